"""Command-line options shared by ``apply``, ``bench``, ``batch``, ``eval`` and ``train``: declared once.

- :func:`add_run_options`: ``--device``, ``--tile``, ``--overlap``, ``--precision``, ``--ensemble``
  (how a plugin runs);
- :func:`add_backend_option`: ``--backend auto|torch|onnx`` (``apply``, ``batch``, ``bench``);
- :func:`add_device_option`: ``--device`` alone (``indexed=True`` also takes ``cuda:N``, for training);
- :func:`parse_params`: ``NAME=VALUE`` items of ``--param``;
- :func:`run_options`: the :class:`~engine.core.types.RunOptions` those options describe.

Values are checked where they are used (:mod:`engine.device`, :mod:`plugins.params`), so every
command reports a bad value with the same one-line message.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from engine.core.types import RunOptions

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
ENSEMBLE_CHOICES = ("1", "2", "4", "8")  # engine.core.types.ENSEMBLE_PASSES as text (kept equal by a test)
BACKENDS = ("auto", "torch", "onnx")


def add_backend_option(p: argparse.ArgumentParser, *, extra: tuple[str, ...] = ()) -> None:
    """``--backend``: what runs the network on the CPU (:mod:`engine.backends`); ``extra`` adds choices."""
    p.add_argument("--backend", choices=(*BACKENDS, *extra), default="auto",
                   help="what runs the network on the CPU: auto = ONNX Runtime where it measured faster for this "
                        "plugin, else PyTorch (default); GPUs always use PyTorch")  # fmt: skip


def add_device_option(
    p: argparse.ArgumentParser, *, indexed: bool = False, default: str | None = "auto", note: str = ""
) -> None:
    """``--device``: one of :data:`DEVICES`, or with ``indexed`` any of ``auto|cpu|cuda|cuda:N|mps`` (free text)."""
    if indexed:
        p.add_argument("--device", default=default, help="auto | cpu | cuda | cuda:N | mps" + note)
    else:
        p.add_argument(
            "--device", choices=DEVICES, default=default, help="compute device (default: auto = cuda, mps, cpu)" + note
        )


def add_run_options(
    p: argparse.ArgumentParser, *, overlap: bool = True, precision: bool = True, note: str = ""
) -> None:
    """``--device``, ``--tile``, ``--ensemble`` and (unless switched off) ``--overlap`` and ``--precision``."""
    add_device_option(p, note=note)
    p.add_argument(
        "--tile", type=int, metavar="N", help="tile edge in pixels; 0 = whole image (default: automatic)" + note
    )
    p.add_argument(
        "--ensemble", choices=ENSEMBLE_CHOICES, default="1", metavar="N",
        help="self-ensemble: average N flipped / rotated passes (1, 2, 4 or 8; N times slower, "
             "slightly cleaner; default 1 = off)" + note,
    )  # fmt: skip
    if overlap:
        p.add_argument(
            "--overlap", type=int, metavar="N", help="tile overlap in pixels (never below the plugin's context)"
        )
    if precision:
        p.add_argument(
            "--precision", choices=PRECISIONS, default="auto", help="numeric precision (fp16 on a GPU; bf16 on a GPU or a CPU with AMX / AVX-512 BF16; auto = fp32 on the CPU)"
        )


def parse_params(items: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` items to a dict (delegates to :func:`plugins.params.parse_param_assignments`)."""
    from plugins.params import parse_param_assignments

    return parse_param_assignments(items)


def run_options(args: argparse.Namespace, strength: float = 1.0) -> RunOptions:
    """:class:`~engine.core.types.RunOptions` from :func:`add_run_options`'s options (absent ones: defaults)."""
    from engine.core.types import Backend, DeviceKind, Precision, RunOptions

    backend = getattr(args, "backend", None)
    return RunOptions(
        tile=args.tile,
        overlap=getattr(args, "overlap", None),
        device=DeviceKind(args.device),
        precision=Precision(getattr(args, "precision", "auto")),
        strength=strength,
        backend=Backend(backend) if backend in BACKENDS else None,
        ensemble=int(getattr(args, "ensemble", "1")),
    )
