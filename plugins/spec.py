"""The network spec: one description of how a network is called, read by the runner and the trainer.

A :class:`NetworkSpec` is to a network what spandrel's ``ModelDescriptor`` is to an architecture:
the facts a caller needs without looking inside the network. The trainer reads how to call it
(``input``, ``noise_map``, ``scale_arg``) and how to pad validation images (``size_multiple``);
the runner reads, through the manifest, channels, scales, tiling (``context``, ``size_multiple``,
policy) and the precisions it may choose (``fp16``, ``bf16``).

The specs of the built-in networks live in :mod:`plugins.nets.specs`, keyed by the name of the
factory that builds the network (``module:callable``, the ``model.arch`` of a training config);
a manifest points at them with ``network = "..."`` in each ``[[weights]]`` table. A plugin whose
networks have no registered spec (a user or community plugin) declares the same facts inline in
its manifest (``scale``, ``channels``, ``fp16``, ``bf16``, ``[tiling]``).

This module imports neither torch nor any network code, so listing plugins stays cheap.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

from plugins.api import TilingPolicy, TilingSpec


class NetworkInput(str, enum.Enum):
    """What image the network's first argument is.

    - ``DEGRADED``: the degraded image itself (denoisers, weather removal, LR-input super-resolution).
    - ``UPSAMPLED``: the degraded image bicubic-upsampled to the output size first (VDSR / RED-Net style
      pre-upsampling networks); the trainer feeds ``DegradedBatch.upsampled``, the plugin's
      restorer upsamples before calling the network.
    """

    DEGRADED = "degraded"
    UPSAMPLED = "upsampled"


@dataclass(frozen=True)
class NetworkSpec:
    """How one network is called and what it accepts (frozen; see the module docstring).

    Calling convention: ``net(x)``; with ``noise_map`` ``net(x, sigma)`` where ``sigma`` has shape
    ``(N, 1, 1, 1)`` on the ``[0, 1]`` scale (sigma/255); with ``scale_arg`` also ``scale=s``
    (multi-scale networks fed the LR image). ``x`` is ``(N, channels_in, H, W)`` in ``[0, 1]``
    (``input`` says which image), ``H`` and ``W`` multiples of ``size_multiple``; the output is
    ``(N, channels_out, H*s, W*s)`` (for ``UPSAMPLED`` input, ``x`` is already at the output size).

    Geometry, in pixels of the plugin's input (the degraded image):

    - ``scales``: the output scales the network produces (``(1,)`` for restoration);
    - ``context``: receptive-field radius: tiles overlap by at least this much, so tiled output
      equals whole-image output (for ``UPSAMPLED`` input: at the smallest scale, the worst case);
    - ``size_multiple``: input height and width must be multiples of this (the engine and the
      trainer's validation reflect-pad to it);
    - ``tiling``: whether the network is tileable (``TILED``), only with large tiles
      (``MIN_TILE``, at least ``min_tile``) or never (``WHOLE``), see :class:`plugins.api.TilingPolicy`.

    - ``memory_per_pixel``: peak activation bytes per input pixel of one fp32 CPU forward at the
      largest scale (0 = unknown), measured by ``scripts/tile_memory.py``; sizes CPU tiles.

    ``fp16`` / ``bf16``: the network runs correctly under autocast in that precision on a GPU.

    ``ensemble``: the most geometric self-ensemble passes its training makes valid
    (:mod:`engine.ensemble`): 8 when the degradation looks the same after any flip or 90-degree
    turn (noise, bicubic downscaling), 4 when only flips and half turns keep it (rain falls
    down: a quarter-turned rainy photo has horizontal streaks the network never saw; measured
    Rain12 -0.92 dB at 8 passes, +0.24 dB at 4), 1 when none is valid.
    """

    input: NetworkInput = NetworkInput.DEGRADED
    noise_map: bool = False
    scale_arg: bool = False
    channels_in: int = 3
    channels_out: int = 3
    scales: tuple[int, ...] = (1,)
    size_multiple: int = 1
    context: int = 16
    tiling: TilingPolicy = TilingPolicy.TILED
    min_tile: int = 0
    memory_per_pixel: int = 0
    fp16: bool = False
    bf16: bool = False
    ensemble: int = 8

    def __post_init__(self) -> None:
        if self.channels_in not in (1, 3) or self.channels_out not in (1, 3):
            raise ValueError(f"channels_in/channels_out must be 1 or 3, got {self.channels_in}/{self.channels_out}")
        if not self.scales or any(s < 1 for s in self.scales):
            raise ValueError(f"scales must be a non-empty tuple of integers >= 1, got {self.scales}")
        if self.size_multiple < 1 or self.context < 0 or self.min_tile < 0 or self.memory_per_pixel < 0:
            raise ValueError("size_multiple must be >= 1, context, min_tile and memory_per_pixel >= 0")
        if self.ensemble not in (1, 2, 4, 8):
            raise ValueError(f"ensemble must be 1, 2, 4 or 8 passes, got {self.ensemble}")

    @property
    def tileable(self) -> bool:
        """False when the network must see the whole image (``tiling = WHOLE``)."""
        return self.tiling is not TilingPolicy.WHOLE

    def tiling_spec(self) -> TilingSpec:
        """The runner's view of this network's geometry."""
        return TilingSpec(
            policy=self.tiling,
            context=self.context,
            size_multiple=self.size_multiple,
            min_tile=self.min_tile,
            memory_per_pixel=self.memory_per_pixel,
        )

    def call_facts(self) -> dict[str, object]:
        """The facts a training config used to declare itself (``model.input``, ``noise_map``, ``scale_arg``, ``size_multiple``)."""
        return {
            "input": self.input.value,
            "noise_map": self.noise_map,
            "scale_arg": self.scale_arg,
            "size_multiple": self.size_multiple,
        }


SPEC_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(NetworkSpec))
"""Field names of :class:`NetworkSpec`, in declaration order."""

_POLICY_ORDER = {TilingPolicy.TILED: 0, TilingPolicy.MIN_TILE: 1, TilingPolicy.WHOLE: 2}


@dataclass(frozen=True)
class PluginGeometry:
    """What a plugin made of several networks (one per weights entry) offers the runner.

    ``channels``: every network's ``channels_in`` (the restorer picks the network by channel
    count, e.g. DnCNN's gray and colour networks); ``scales``: common to all networks;
    ``fp16``/``bf16``: only if every network supports it; ``tiling``: the most restrictive
    policy, the widest context and min tile, the least common multiple of the size multiples;
    ``ensemble``: the fewest self-ensemble passes any of them allows.
    """

    scales: tuple[int, ...]
    channels: tuple[int, ...]
    fp16: bool
    bf16: bool
    tiling: TilingSpec
    ensemble: int = 8


def combine(specs: Sequence[NetworkSpec]) -> PluginGeometry:
    """The geometry of a plugin whose weights entries hold networks described by ``specs``.

    Raises ``ValueError`` when the networks disagree on their scales (a plugin has one set) or a
    network changes the channel count (a restorer returns its input's channels).
    """
    if not specs:
        raise ValueError("a plugin needs at least one network spec")
    for spec in specs:
        if spec.channels_out != spec.channels_in:
            raise ValueError(
                f"a network maps {spec.channels_in} channels to {spec.channels_out}; a plugin's output has its input's channels"
            )
    scales = specs[0].scales
    for spec in specs[1:]:
        if spec.scales != scales:
            raise ValueError(f"its networks produce different scales {list(scales)} and {list(spec.scales)}")
    multiple = 1
    for spec in specs:
        multiple = multiple * spec.size_multiple // math.gcd(multiple, spec.size_multiple)
    policy = max((s.tiling for s in specs), key=_POLICY_ORDER.__getitem__)
    tiling = TilingSpec(
        policy=policy,
        context=max(s.context for s in specs),
        size_multiple=multiple,
        min_tile=max(s.min_tile for s in specs),
        memory_per_pixel=0 if any(s.memory_per_pixel == 0 for s in specs) else max(s.memory_per_pixel for s in specs),
    )
    return PluginGeometry(
        scales=scales,
        channels=tuple(sorted({s.channels_in for s in specs})),
        fp16=all(s.fp16 for s in specs),
        bf16=all(s.bf16 for s in specs),
        tiling=tiling,
        ensemble=min(s.ensemble for s in specs),
    )
