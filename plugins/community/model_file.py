"""Read a community model file into a state dict without ever running code from it.

Contract of :func:`read_state_dict`:

- ``.safetensors`` (recognised by its header, whatever the extension) is read with safetensors;
- torch zip checkpoints and legacy pickles (``.pth``, ``.ckpt``, ``.pt``, ``.bin``) are read only
  with ``torch.load(weights_only=True)``: tensors and plain containers. A pickle that asks for
  anything else (a ``__reduce__`` payload, a custom class) is refused *without running it*;
- TorchScript archives (``.pt`` from ``torch.jit.save``) are refused: loading them runs code;
- the result is canonicalised like spandrel does (unwraps ``params_ema``, ``state_dict``...,
  strips ``module.``), and only tensor entries are kept;
- every failure raises :class:`ModelFileError` with one line naming the file and the fix.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from engine.core.errors import ClarityError
from plugins.weights import safetensors_problem

if TYPE_CHECKING:  # pragma: no cover
    import torch

MODEL_SUFFIXES: frozenset[str] = frozenset({".pth", ".pt", ".ckpt", ".safetensors", ".bin"})
"""File extensions offered for import (the content decides how a file is read)."""


class ModelFileError(ClarityError):
    """A model file cannot be imported (unreadable, corrupted, unsafe, not a model)."""


def is_model_file(path: Path) -> bool:
    """True when ``path``'s extension is one of :data:`MODEL_SUFFIXES` (used for drag and drop)."""
    return Path(path).suffix.lower() in MODEL_SUFFIXES


def file_kind(path: Path) -> str:
    """``"safetensors"``, ``"torchscript"``, ``"torch-zip"``, ``"pickle"`` or ``"unknown"`` from the bytes."""
    path = Path(path)
    if safetensors_problem(path) is None:
        return "safetensors"
    with path.open("rb") as handle:
        head = handle.read(4)
    if head[:2] == b"PK":
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return "torch-zip"  # truncated: torch.load reports it below
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            return "torchscript"
        return "torch-zip"
    if head[:1] == b"\x80":
        return "pickle"
    return "unknown"


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The canonical tensor state dict stored in ``path`` (see the module contract)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    try:
        kind = file_kind(path)
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    if kind == "torchscript":
        raise ModelFileError(
            f"{path.name}: is a TorchScript archive, which runs code when loaded; refused. "
            "Export the model's state dict (.pth or .safetensors) instead"
        )
    if kind == "unknown":
        raise ModelFileError(
            f"{path.name}: not a model file (expected .pth/.ckpt/.pt state dict or .safetensors); "
            "it may be corrupted or truncated"
        )
    raw: object
    if kind == "safetensors":
        from safetensors.torch import load_file

        try:
            raw = load_file(str(path), device="cpu")
        except Exception as exc:  # noqa: BLE001 - safetensors raises several types
            raise ModelFileError(f"{path.name}: corrupted or truncated safetensors file ({exc})") from exc
    else:
        try:
            raw = torch.load(str(path), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise ModelFileError(
                f"{path.name}: refused: the file asks to run Python code or build objects other than tensors "
                f"when unpickled (only plain state dicts are loaded; it was not executed){_pickle_detail(exc)}"
            ) from exc
        except Exception as exc:  # noqa: BLE001 - truncated zips and bad pickles raise many types
            raise ModelFileError(f"{path.name}: corrupted or truncated model file ({_first_line(exc)})") from exc
    return canonical_tensors(raw, path)


def canonical_tensors(raw: object, path: Path) -> dict[str, torch.Tensor]:
    """Unwrap ``raw`` like spandrel's ``canonicalize_state_dict`` and keep only tensor entries."""
    import torch

    from plugins.community.spandrel_compat import import_spandrel

    if not isinstance(raw, dict):
        raise ModelFileError(f"{Path(path).name}: holds a {type(raw).__name__}, not a state dict of tensors")
    state = import_spandrel().canonicalize_state_dict(raw)
    tensors = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ModelFileError(f"{Path(path).name}: contains no weight tensors")
    return tensors


def _pickle_detail(exc: BaseException) -> str:
    """``": Unsupported global: GLOBAL builtins.print ..."`` from torch's message, or ``""``."""
    import re

    found = re.search(r"Unsupported global: GLOBAL [\w.]+", str(exc)) or re.search(r"Unsupported operand \d+", str(exc))
    return f": {found.group(0)}" if found else ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0].split(". ")[0] if text else type(exc).__name__
    return first[:200]


__all__ = ["MODEL_SUFFIXES", "ModelFileError", "file_kind", "is_model_file", "read_state_dict"]
