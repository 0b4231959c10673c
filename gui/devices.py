"""Which compute devices this build can use, and engine messages in the GUI's words.

:func:`available_devices` lists only the devices the installed PyTorch can reach (``auto`` and
``cpu`` always; ``cuda`` with a usable CUDA GPU; ``mps`` on Apple silicon), so the dialogs
never offer a device that can only fail. :func:`gui_words` rewrites the command-line advice
in engine messages ("use --device cpu or auto") into what a GUI user sets ('set Device to "cpu"
or "auto"').
"""

from __future__ import annotations

import re

from engine.core.types import DeviceKind


def available_devices() -> list[DeviceKind]:
    """``auto``, ``cpu`` and each GPU kind this PyTorch build can use, in that order."""
    kinds = [DeviceKind.AUTO, DeviceKind.CPU]
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return kinds
    if torch.cuda.is_available():
        kinds.append(DeviceKind.CUDA)
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        kinds.append(DeviceKind.MPS)
    return kinds


_FIELDS = {"device": "Device", "precision": "Precision"}
_VALUE = r"(?:auto|cpu|cuda|mps|fp32|fp16|bf16)"
_OPTION = re.compile(rf"(?:use )?--(device|precision)(?: ({_VALUE}(?:(?:, | or ){_VALUE})*))?")


def _option(match: re.Match[str]) -> str:
    field = _FIELDS[match.group(1)]
    if not match.group(2):
        return f"change {field}"
    values = re.split(r", | or ", match.group(2))
    return f"set {field} to " + " or ".join(f'"{v}"' for v in values)


def gui_words(message: str) -> str:
    """``message`` with command-line options replaced by the dialog fields a user changes."""
    message = _OPTION.sub(_option, message)
    message = message.replace("pass --overwrite", 'tick "Overwrite existing files"')
    message = message.replace("--overwrite", '"Overwrite existing files"')
    message = re.sub(r"--name\b", 'the "File name" field', message)
    message = re.sub(r"--param (\w+)=", r"the parameter \1 = ", message)
    return message


__all__ = ["available_devices", "gui_words"]
