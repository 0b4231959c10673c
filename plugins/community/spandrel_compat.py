"""Import ``spandrel`` without letting a broken ``torchvision`` break it.

spandrel declares ``torchvision`` as a dependency but imports it only for two architectures
(LaMa and RestoreFormer, neither a restoration filter here), through three names of
``torchvision.transforms.functional``: ``InterpolationMode``, ``rotate`` and ``normalize``.
A torchvision wheel built for another torch (e.g. a CUDA build next to the CPU torch) fails at
import with ``RuntimeError: operator torchvision::nms does not exist``, and ``import spandrel``
would fail with it.

Contract of :func:`import_spandrel`:

- the real torchvision is used whenever ``import torchvision`` succeeds;
- otherwise a stand-in providing only those names is placed in ``sys.modules`` *while spandrel
  is imported* and removed afterwards, so no other code ever sees a fake torchvision; calling
  ``rotate`` on the stand-in raises a clear error (``normalize`` is implemented exactly);
- spandrel missing altogether raises :class:`SpandrelMissingError` saying how to install it;
- torch's ``torch.meshgrid`` indexing warning, which SwinIR-family models trigger when they are
  built (third-party code, nothing the user can act on), is filtered once spandrel is imported.
"""

from __future__ import annotations

import enum
import sys
import warnings
import threading
import types
from typing import Any

from engine.core.errors import ClarityError

_lock = threading.Lock()
STANDIN_ATTRIBUTE = "__clarity_standin__"
INSTALL_HINT = 'pip install --no-deps "spandrel==0.4.2" "einops>=0.7" (see docs/plugins.md, "Use a community model")'
used_standin = False
"""True after :func:`import_spandrel` had to use the torchvision stand-in."""


class SpandrelMissingError(ClarityError, ImportError):
    """spandrel is not installed; the message says how to install it."""


class _InterpolationMode(enum.Enum):
    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def _rotate(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError(
        "this architecture needs torchvision, which cannot be imported here "
        "(install a torchvision build that matches your torch)"
    )


def _normalize(tensor: Any, mean: Any, std: Any, inplace: bool = False) -> Any:
    """``(tensor - mean) / std`` per channel, as torchvision.transforms.functional.normalize."""
    import torch

    if not inplace:
        tensor = tensor.clone()
    mean_t = torch.as_tensor(mean, dtype=tensor.dtype, device=tensor.device).view(-1, 1, 1)
    std_t = torch.as_tensor(std, dtype=tensor.dtype, device=tensor.device).view(-1, 1, 1)
    return tensor.sub_(mean_t).div_(std_t)


def _standin_modules() -> dict[str, types.ModuleType]:
    root = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.InterpolationMode = _InterpolationMode  # type: ignore[attr-defined]
    functional.rotate = _rotate  # type: ignore[attr-defined]
    functional.normalize = _normalize  # type: ignore[attr-defined]
    for module in (root, transforms, functional):
        setattr(module, STANDIN_ATTRIBUTE, True)
    root.__path__ = []  # type: ignore[attr-defined]
    transforms.__path__ = []  # type: ignore[attr-defined]
    root.transforms = transforms  # type: ignore[attr-defined]
    transforms.functional = functional  # type: ignore[attr-defined]
    return {"torchvision": root, "torchvision.transforms": transforms, "torchvision.transforms.functional": functional}


def _real_torchvision_imports() -> bool:
    """True if the real torchvision imports; on failure its partial modules are removed."""
    if "torchvision" in sys.modules:
        return not getattr(sys.modules["torchvision"], STANDIN_ATTRIBUTE, False)
    try:
        import torchvision  # noqa: F401
    except Exception:  # noqa: BLE001 - ImportError, or RuntimeError from a mismatched build
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        return False
    return True


MESHGRID_WARNING = r"torch\.meshgrid: in an upcoming release, it will be required to pass the indexing argument"


def import_spandrel() -> types.ModuleType:
    """The ``spandrel`` module (see the module docstring for the torchvision handling)."""
    global used_standin
    warnings.filterwarnings("ignore", message=MESHGRID_WARNING, category=UserWarning)
    if "spandrel" in sys.modules:
        return sys.modules["spandrel"]
    with _lock:
        if "spandrel" in sys.modules:
            return sys.modules["spandrel"]
        import importlib.util

        if importlib.util.find_spec("spandrel") is None:
            raise SpandrelMissingError(f"importing community models needs spandrel: {INSTALL_HINT}")
        if _real_torchvision_imports():
            import spandrel

            return spandrel
        standins = _standin_modules()
        sys.modules.update(standins)
        try:
            import spandrel
        finally:
            for name, module in standins.items():
                if sys.modules.get(name) is module:
                    del sys.modules[name]
        used_standin = True
        return spandrel


__all__ = ["INSTALL_HINT", "SpandrelMissingError", "import_spandrel"]
