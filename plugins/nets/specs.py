"""The spec of every built-in network, keyed by the factory that builds it (``module:callable``).

This is the one place where a built-in network's calling convention and geometry are declared
(:class:`plugins.spec.NetworkSpec`). Two readers use the same key:

- a plugin manifest's ``[[weights]]`` table says ``network = "<key>"``: the runner's channels,
  scales, tiling and precisions come from here (:mod:`plugins.manifest`);
- a training config's ``model.arch = "<key>"``: the trainer calls the network, feeds it the
  degraded or upsampled image and pads validation images from here (:mod:`engine.training.config`).

It imports neither torch nor the networks (listing plugins reads it). The contexts are the
receptive-field radii in input pixels, rounded up to the size multiple for strided networks;
``tests/plugins/test_builtin_models.py`` measures them by autograd and checks every spec
against the network its key builds. The memory figures are peak bytes per input pixel of one
fp32 CPU forward at the largest scale, rounded up from what ``scripts/tile_memory.py`` measured
(two runs: Denoise 441-583, weather 357, Upscale 1335-2050, RED-Net30 36899-40975, DnCNN 513-683;
RED-Net20 31422 and RED-Net10 21858 with ``--only rednet``; the deep weather network 391 with
``--only weather``, where the shipped one read 315).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType

from plugins.spec import NetworkInput, NetworkSpec

DENOISE = NetworkSpec(
    noise_map=True, channels_in=3, channels_out=3, size_multiple=8, context=72, memory_per_pixel=672, fp16=True, bf16=True
)
"""The noise-level-conditioned residual U-Net of ``denoise`` (measured radius 67, rounded up to 8)."""

WEATHER = NetworkSpec(
    channels_in=3, channels_out=3, size_multiple=16, context=176, memory_per_pixel=416, fp16=True, bf16=True, ensemble=4
)
"""The all-weather U-Net of ``derain``, ``dehaze``, ``desnow`` and ``all-weather`` (radius 171, rounded up to 16).
Self-ensemble without quarter turns: rain and snow fall down in every training pair."""

WEATHER_DEEP = replace(WEATHER, context=240, memory_per_pixel=416)
"""The weather U-Net with two blocks per level (``weather_net_deep``, a grown student; radius 227, rounded up to 16)."""

UPSCALE = NetworkSpec(scale_arg=True, scales=(2, 3, 4), context=35, memory_per_pixel=2304, fp16=True, bf16=True)
"""The multi-scale EDSR-baseline body of ``upscale``: ``net(x, scale=s)`` on the LR image."""

UPSCALE_DEEP = replace(UPSCALE, context=43)
"""The same body with 20 residual blocks instead of 16 (``upscale_net_deep``, grown from ``upscale_net``)."""

REDNET30 = NetworkSpec(
    input=NetworkInput.UPSAMPLED, scales=(2, 3, 4), context=17, memory_per_pixel=41984, fp16=True, bf16=True
)
"""RED-Net30 of ``upscale-rednet``: fed the bicubic upsampling; 30 HR pixels = ceil(30/2) + 2 LR pixels at x2."""

REDNET20 = NetworkSpec(
    input=NetworkInput.UPSAMPLED, scales=(2, 3, 4), context=12, memory_per_pixel=32768, fp16=True, bf16=True
)
"""RED-Net20 (the depth study of the RED-Net paper): 20 HR pixels = ceil(20/2) + 2 LR pixels at x2."""

REDNET10 = NetworkSpec(
    input=NetworkInput.UPSAMPLED, scales=(2, 3, 4), context=7, memory_per_pixel=22528, fp16=True, bf16=True
)
"""RED-Net10: 10 HR pixels = ceil(10/2) + 2 LR pixels at x2."""

DNCNN_GRAY = NetworkSpec(channels_in=1, channels_out=1, context=17, memory_per_pixel=768, fp16=True, bf16=True)
"""DnCNN-B, 17 layers, gray (``denoise-dncnn``'s ``gray`` weights)."""

DNCNN_COLOR = NetworkSpec(channels_in=3, channels_out=3, context=20, memory_per_pixel=768, fp16=True, bf16=True)
"""CDnCNN-B, 20 layers, colour (``denoise-dncnn``'s ``color`` weights)."""

SPECS: Mapping[str, NetworkSpec] = MappingProxyType(
    {
        "plugins.denoise.model:denoise_net": DENOISE,
        "plugins.denoise.model:denoise_gaussian": DENOISE,
        "plugins.denoise.model:denoise_camera": DENOISE,
        "plugins.nets.weather:weather_net": WEATHER,
        "plugins.nets.weather:weather_net_deep": WEATHER_DEEP,
        "plugins.upscale.model:upscale_net": UPSCALE,
        "plugins.upscale.model:upscale_net_deep": UPSCALE_DEEP,
        "plugins.upscale_rednet.model:rednet30": REDNET30,
        "plugins.upscale_rednet.model:rednet20": REDNET20,
        "plugins.upscale_rednet.model:rednet10": REDNET10,
        "plugins.denoise_dncnn.model:dncnn_gray": DNCNN_GRAY,
        "plugins.denoise_dncnn.model:dncnn_color": DNCNN_COLOR,
    }
)
"""Factory name (``module:callable``) -> spec of the network it returns (for every argument value
that keeps the architecture's depth: ``widths`` ablations with another number of levels change
``size_multiple`` and ``context``)."""

LEGACY_ARCHES: Mapping[str, str] = MappingProxyType(
    {
        "plugins.derain.model:derain_net": "plugins.nets.weather:weather_net",
        "plugins.dehaze.model:dehaze_net": "plugins.nets.weather:weather_net",
        "plugins.desnow.model:desnow_net": "plugins.nets.weather:weather_net",
        "plugins.all_weather.model:all_weather_net": "plugins.nets.weather:weather_net",
    }
)
"""Names of factories whose module moved; checkpoints store ``model.arch``, so these keep resolving."""


def canonical(arch: str) -> str:
    """``arch`` with a moved factory's old name replaced by its current one."""
    return LEGACY_ARCHES.get(arch, arch)


def spec_for(arch: str) -> NetworkSpec | None:
    """The spec of the network built by ``arch`` (old names included), or ``None`` if it has none."""
    return SPECS.get(canonical(arch))


def suggest(arch: str) -> str:
    """`` (did you mean 'x'?)`` for a misspelt factory name, else ``""``."""
    close = difflib.get_close_matches(arch, list(SPECS), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""
