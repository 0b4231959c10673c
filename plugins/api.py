"""The plugin contract: manifest dataclasses and the runtime :class:`Restorer` base class.

A plugin is a folder (or an installed package) holding

- ``plugin.toml``: the manifest, parsed into :class:`Manifest` by :mod:`plugins.manifest`;
- a Python module with a build function named by ``entry`` (``"model:build"`` by default)::

      def build(manifest: Manifest, weights: WeightsBundle) -> Restorer: ...

- its ``.safetensors`` weights, listed with their sha256 in the manifest.

This module imports neither torch nor any plugin code, so listing plugins stays cheap;
torch appears only in type annotations.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch


class Task(str, enum.Enum):
    """What a plugin does; groups the Filter menu."""

    DENOISE = "denoise"
    SUPER_RESOLUTION = "super-resolution"
    DERAIN = "derain"
    DEHAZE = "dehaze"
    DESNOW = "desnow"
    OTHER = "other"


class TilingPolicy(str, enum.Enum):
    """How the engine may split an image for this plugin.

    - ``TILED``: purely local network (conv, BN in eval mode): any tile size works as long as
      the overlap covers ``context``; tiled output equals whole-image output.
    - ``MIN_TILE``: the network pools statistics over H and W (instance/layer norm, global
      pooling); tiles disagree unless large. The engine never uses tiles smaller than
      ``min_tile`` and warns that tiles may differ slightly from a whole-image run.
    - ``WHOLE``: the network must see the whole image at once; the engine never tiles it.
    """

    TILED = "tiled"
    MIN_TILE = "min-tile"
    WHOLE = "whole"


class ParamType(str, enum.Enum):
    """Type of a user-visible filter parameter."""

    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    CHOICE = "choice"


ParamValue = Union[float, int, bool, str]

AUTO = "auto"
"""The value a parameter with ``allow_auto`` takes when the plugin should decide (e.g. noise level)."""


@dataclass(frozen=True)
class ParamSpec:
    """One filter parameter as declared in the manifest's ``[[parameters]]`` tables.

    ``choices`` holds the allowed values of a ``CHOICE`` parameter (as strings, or ints for a
    scale). ``allow_auto`` lets the value be the string ``"auto"``, resolved by
    :meth:`Restorer.analyse` on the whole image before tiling.
    """

    name: str
    type: ParamType
    default: ParamValue
    label: str = ""
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    choices: tuple[ParamValue, ...] = ()
    allow_auto: bool = False

    @property
    def display_label(self) -> str:
        """The label shown in dialogs (falls back to the name)."""
        return self.label or self.name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class TilingSpec:
    """What the engine must know to tile a plugin (the manifest's ``[tiling]`` table).

    - ``context``: receptive-field radius in *input* pixels; the overlap is at least this.
    - ``size_multiple``: network input height/width must be a multiple of this (reflect-padded).
    - ``min_tile``: smallest tile edge allowed (input pixels), used by ``MIN_TILE``.
    - ``memory_per_pixel``: peak activation bytes per *input* pixel of one fp32 forward on the
      CPU, at the plugin's largest scale (0 = unknown). The CPU's automatic tile size comes from
      it (:func:`engine.device.auto_tile_size`): large tiles waste less work on the overlap.
    """

    policy: TilingPolicy = TilingPolicy.TILED
    context: int = 16
    size_multiple: int = 1
    min_tile: int = 0
    memory_per_pixel: int = 0


@dataclass(frozen=True)
class WeightsFileSpec:
    """One weights file of a plugin: ``file`` relative to the plugin folder, its sha256, optional url.

    ``size`` (bytes, optional) caps a download: more bytes than that are never fetched.
    ``network`` (optional) names the factory of the network the file holds (``module:callable``),
    whose spec in :mod:`plugins.nets.specs` then gives the plugin's scales, channels, precisions
    and tiling.
    """

    name: str
    file: str
    sha256: str
    url: str | None = None
    size: int | None = None
    network: str | None = None


class PluginSource(str, enum.Enum):
    """Where a plugin was discovered."""

    BUILTIN = "built-in"
    USER = "user folder"
    ENTRY_POINT = "entry point"


@dataclass(frozen=True)
class Manifest:
    """A validated ``plugin.toml``. ``folder`` is the directory that holds it.

    ``onnx = false`` opts the plugin out of the ONNX Runtime backend (e.g. its network uses an
    operator ONNX lacks); it then always runs in PyTorch. ``ensemble``: the most self-ensemble
    passes the plugin's networks allow (:class:`plugins.spec.NetworkSpec`; 8 for a manifest
    without network specs); the runner caps ``RunOptions.ensemble`` to it.
    """

    id: str
    name: str
    version: str
    task: Task
    menu: str
    folder: Path
    description: str = ""
    license: str = ""
    entry: str = "model:build"
    parameters: tuple[ParamSpec, ...] = ()
    scales: tuple[int, ...] = (1,)
    channels: tuple[int, ...] = (3,)
    fp16: bool = False
    bf16: bool = False
    onnx: bool = True
    tiling: TilingSpec = field(default_factory=TilingSpec)
    weights: tuple[WeightsFileSpec, ...] = ()
    ensemble: int = 8

    def parameter(self, name: str) -> ParamSpec | None:
        """The parameter called ``name``, or ``None``."""
        return next((p for p in self.parameters if p.name == name), None)

    @property
    def max_scale(self) -> int:
        """The largest output scale this plugin can produce."""
        return max(self.scales)


class WeightsStatus(str, enum.Enum):
    """Health of a discovered plugin, shown by ``clarity list`` and the Plugins dialog."""

    OK = "ok"
    MISSING = "missing"
    HASH_MISMATCH = "hash mismatch"
    INVALID_MANIFEST = "invalid manifest"
    IMPORT_ERROR = "import error"


@dataclass(frozen=True)
class PluginInfo:
    """A discovered plugin. ``manifest`` is ``None`` when the manifest is invalid.

    ``usable`` is true only when the manifest is valid and every weights file is present
    with the right hash.
    """

    source: PluginSource
    location: Path
    manifest: Manifest | None
    status: WeightsStatus
    reason: str = ""

    @property
    def id(self) -> str:
        """Plugin id, or the folder name when the manifest could not be read."""
        return self.manifest.id if self.manifest else self.location.name

    @property
    def usable(self) -> bool:
        """True when the plugin can be loaded and run."""
        return self.manifest is not None and self.status is WeightsStatus.OK


@dataclass(frozen=True)
class ParamValues:
    """Validated parameter values for one run (every manifest parameter present)."""

    values: Mapping[str, ParamValue]

    def get(self, name: str) -> ParamValue:
        """The value of ``name``; ``KeyError`` if the manifest declares no such parameter."""
        return self.values[name]

    def float(self, name: str) -> float:
        """The value of a numeric parameter as float (raises on ``"auto"``: resolve it first)."""
        value = self.values[name]
        if isinstance(value, str):
            raise ValueError(f"parameter {name!r} is {value!r}; resolve it in Restorer.analyse()")
        return float(value)

    def replace(self, **changes: ParamValue) -> ParamValues:
        """A copy with some values replaced (used by :meth:`Restorer.analyse`)."""
        merged = dict(self.values)
        merged.update(changes)
        return ParamValues(merged)


class WeightsBundle(Mapping[str, "Mapping[str, torch.Tensor]"]):
    """Hash-verified state dicts of a plugin, keyed by the manifest's weights ``name``.

    Built by :mod:`plugins.weights`, which refuses pickles and checks every sha256 before
    any tensor is read. Iteration yields the names.
    """

    def __init__(self, state_dicts: Mapping[str, Mapping[str, torch.Tensor]]) -> None:
        self._state_dicts = dict(state_dicts)

    def __getitem__(self, name: str) -> Mapping[str, torch.Tensor]:
        return self._state_dicts[name]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._state_dicts)

    def __len__(self) -> int:
        return len(self._state_dicts)


class Restorer(ABC):
    """Runtime half of a plugin: a network in eval mode plus how to call it.

    The engine owns tiling, padding, device placement, precision and blending; a restorer
    only maps a batch of tiles to a batch of outputs.

    Contract of :meth:`forward`: input ``x`` is ``(N, C, H, W)`` float in ``[0, 1]`` with ``C``
    one of ``manifest.channels`` and ``H``, ``W`` multiples of ``tiling.size_multiple``; output
    is ``(N, C, H*s, W*s)`` with ``s = self.scale(params)``. It must not depend on where a
    tile lies in the image and (for ``TilingPolicy.TILED``) must be local within ``context``.
    """

    def __init__(self, manifest: Manifest, network: torch.nn.Module) -> None:
        self.manifest = manifest
        self.network = network.eval()

    def analyse(self, image: np.ndarray, params: ParamValues) -> ParamValues:
        """Resolve whole-image parameters (e.g. ``"auto"`` noise level) before tiling.

        ``image`` is the full ``(H, W, C)`` float32 input. The default returns ``params``.
        """
        return params

    def scale(self, params: ParamValues) -> int:
        """Output scale for these parameters: the ``scale`` parameter if declared, else ``scales[0]``."""
        if self.manifest.parameter("scale") is not None:
            return int(params.get("scale"))
        return self.manifest.scales[0]

    @abstractmethod
    def forward(self, x: torch.Tensor, params: ParamValues) -> torch.Tensor:
        """Restore a batch of tiles (see the class docstring for the contract)."""
