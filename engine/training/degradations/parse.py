"""Turn a degradation spec string (``"awgn:0-55"``, ``"bicubic:2,3,4"``, ...) into a Degradation."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.core.errors import ClarityError
from engine.training.degradations.base import Degradation, DegradedBatch, check_clean

SPEC_HELP = (
    "use one of: none, awgn:SIGMA, awgn:MIN-MAX, camera, camera:grain, camera:mixed, bicubic:S or bicubic:S1,S2,..., "
    "rain, haze, haze:veil, haze:veil-to-clear, snow, snow:veil-to-clear, mix:KIND1,KIND2,..."
)


@dataclass(frozen=True)
class Identity:
    """No degradation: ``degraded`` is ``clean`` (useful for evaluation and sanity checks)."""

    name: str = "none"

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> DegradedBatch:
        check_clean(clean, self.name)
        return DegradedBatch(degraded=clean, clean=clean, kind=("none",) * clean.shape[0])


def _float(text: str, spec: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ClarityError(f"degradation '{spec}': '{text}' is not a number; {SPEC_HELP}") from None


def _parse_awgn(arg: str, spec: str) -> Degradation:
    from engine.training.degradations.noise import AWGN

    if not arg:
        raise ClarityError(f"degradation '{spec}' needs a sigma, e.g. awgn:25 or awgn:0-55")
    if "-" in arg.lstrip("-"):
        lo_text, hi_text = arg.split("-", 1)
        lo, hi = _float(lo_text, spec), _float(hi_text, spec)
    else:
        lo = hi = _float(arg, spec)
    if lo < 0 or hi < lo or hi > 255:
        raise ClarityError(f"degradation '{spec}': sigma range must satisfy 0 <= min <= max <= 255 (0-255 scale)")
    return AWGN(lo, hi)


def parse_degradation(spec: str) -> Degradation:
    """Build the degradation named by ``spec`` (see the package docstring for the grammar).

    Raises :class:`ClarityError` with the accepted grammar when ``spec`` is not understood.
    """
    text = spec.strip().lower()
    head, _, arg = text.partition(":")
    head, arg = head.strip(), arg.strip()
    if head == "none" and not arg:
        return Identity()
    if head == "awgn":
        return _parse_awgn(arg, spec)
    if head == "camera" and arg in ("", "grain", "mixed"):
        from engine.training.degradations.camera import CameraNoise

        # "camera" stays the fine-grain synthesis that the published validation numbers and the
        # shipped camera weights use; "camera:grain" adds the coarse grain on half the images;
        # "camera:mixed" also turns a quarter of them into gray scans stored as RGB.
        if arg == "mixed":
            return CameraNoise(gray_probability=0.25, name="camera:mixed")
        return CameraNoise(name="camera:grain") if arg == "grain" else CameraNoise(grain_probability=0.0)
    if head in ("bicubic", "sr"):
        from engine.training.degradations.sr import BicubicDown

        if not arg:
            raise ClarityError(f"degradation '{spec}' needs a scale, e.g. bicubic:4 or bicubic:2,3,4")
        scales: list[int] = []
        for part in arg.split(","):
            value = _float(part, spec)
            if value != int(value) or int(value) not in (2, 3, 4, 8):
                raise ClarityError(f"degradation '{spec}': scale '{part}' must be 2, 3, 4 or 8")
            scales.append(int(value))
        return BicubicDown(tuple(scales))
    if head == "rain" and not arg:
        from engine.training.degradations.rain import Rain

        return Rain()
    if head == "haze" and arg in ("", "veil", "veil-to-clear"):
        from engine.training.degradations.haze import VEIL_TO_CLEAR_T_RANGE, Haze

        # "haze" stays the depth-ramp synthesis of the published synthetic validation numbers;
        # "haze:veil" turns half the images into the near-uniform veil of the real-haze pairs;
        # "haze:veil-to-clear" lets that veil's transmission reach 1 (no haze).
        if arg == "veil-to-clear":
            return Haze(veil_probability=0.5, veil_t_range=VEIL_TO_CLEAR_T_RANGE, name="haze:veil-to-clear")
        return Haze(veil_probability=0.5, name="haze:veil") if arg == "veil" else Haze()
    if head == "snow" and arg in ("", "veil-to-clear"):
        from engine.training.degradations.snow import VEIL_TO_CLEAR_T_RANGE as SNOW_TO_CLEAR, Snow

        return Snow(veil_t_range=SNOW_TO_CLEAR, name="snow:veil-to-clear") if arg else Snow()
    if head == "mix":
        from engine.training.degradations.mix import Mix

        parts = [p.strip() for p in arg.split(",") if p.strip()]
        if not parts:
            raise ClarityError(f"degradation '{spec}' needs a list, e.g. mix:rain,haze,snow")
        members = tuple(parse_degradation(p) for p in parts)
        if any(m.name.startswith("bicubic") or m.name.startswith("mix") for m in members):
            raise ClarityError(f"degradation '{spec}': mix cannot contain bicubic or mix (sizes must match)")
        return Mix(members)
    raise ClarityError(f"unknown degradation '{spec}'; {SPEC_HELP}")
