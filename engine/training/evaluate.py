"""Evaluate a restoration method on a folder of images following the project's protocol.

Protocol (``/work/shared/data/README.md``), implemented exactly:

- ``awgn:SIGMA`` (denoising): clean image as float [0, 255]; white Gaussian noise of std
  SIGMA from ``numpy.random.default_rng(seed)`` seeded freshly per image, not clipped or
  quantised; images in sorted filename order; PSNR/SSIM on the output clipped to [0, 255],
  no border crop, all channels (data range 255).
- ``bicubic:S`` (super-resolution): HR uint8 cropped to a multiple of S; LR by MATLAB
  bicubic, rounded to uint8; the output is clipped and rounded to uint8 (as saved); PSNR/SSIM
  on the BT.601 Y channel with S pixels shaved from each border.
- ``rain`` / ``haze`` / ``snow`` / ``camera`` / ``camera:grain`` / ``camera:mixed`` (synthetic): the torch degradation with a
  ``torch.Generator`` seeded with ``seed`` freshly per image, degraded input rounded to
  uint8 like a saved benchmark file; metrics on RGB of the uint8 output, no crop.
- ``none``: the input is the clean image.
- paired mode (``pairs=(input_dir, target_dir)``): files matched by stem; metrics on RGB of
  the uint8 output, no crop (sizes that differ by a few pixels are centre-cropped to match).

The baseline row is the metric of the method's input itself (noisy image, bicubic upsampling
of the LR, rainy/hazy input), on the same images.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.core.errors import ClarityError
from engine.core.imresize import imresize_np, imresize_uint8
from engine.training.data import list_images, read_uint8
from engine.training.metrics import psnr, rgb_to_y, shave, ssim

RestoreFn = Callable[[np.ndarray, int], np.ndarray]
"""A method under test: ``(image, scale) -> output``; ``image`` is ``(H, W, C)`` float32 on the
[0, 1] scale (noisy inputs may leave that range); the output is ``(H*scale, W*scale, C)``
on the [0, 1] scale. ``scale`` is 1 except for super-resolution."""


@dataclass(frozen=True)
class ImageScore:
    """Scores of one image: the method's and the baseline's (its own input)."""

    name: str
    psnr: float
    ssim: float
    baseline_psnr: float
    baseline_ssim: float
    seconds: float


@dataclass(frozen=True)
class EvalReport:
    """The result of :func:`evaluate`: per-image scores and their means."""

    method: str
    dataset: str
    degrade: str
    seed: int
    scale: int
    metric_space: str  # "y" (luma, SR protocol), "rgb" (all channels), "gray" (one-channel images) or "rgb+gray"
    shave: int
    baseline: str
    images: tuple[ImageScore, ...]

    @staticmethod
    def _mean(values: Sequence[float]) -> float:
        return float(np.mean(values)) if values else math.nan

    @property
    def mean_psnr(self) -> float:
        """Mean PSNR (dB) of the method over the images."""
        return self._mean([s.psnr for s in self.images])

    @property
    def mean_ssim(self) -> float:
        """Mean SSIM of the method over the images."""
        return self._mean([s.ssim for s in self.images])

    @property
    def mean_baseline_psnr(self) -> float:
        """Mean PSNR (dB) of the baseline (the method's input) over the images."""
        return self._mean([s.baseline_psnr for s in self.images])

    @property
    def mean_baseline_ssim(self) -> float:
        """Mean SSIM of the baseline over the images."""
        return self._mean([s.baseline_ssim for s in self.images])

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict (means included)."""
        return {
            "method": self.method,
            "dataset": self.dataset,
            "degrade": self.degrade,
            "seed": self.seed,
            "scale": self.scale,
            "metric_space": self.metric_space,
            "shave": self.shave,
            "baseline": self.baseline,
            "mean": {
                "psnr": self.mean_psnr,
                "ssim": self.mean_ssim,
                "baseline_psnr": self.mean_baseline_psnr,
                "baseline_ssim": self.mean_baseline_ssim,
            },
            "images": [s.__dict__ for s in self.images],
        }


@dataclass(frozen=True)
class _Case:
    name: str
    target: np.ndarray  # float64 [0, 255], (H, W, C)
    inp: np.ndarray  # float64 [0, 1] input of the method (handed over as float32)


Saver = Callable[[str, np.ndarray], None]


def _to_u8(x255: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x255), 0, 255).astype(np.uint8)


def _check_output(out: np.ndarray, expect: tuple[int, ...], method: str, name: str) -> np.ndarray:
    arr = np.asarray(out, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape != expect:
        raise ClarityError(f"method '{method}' returned shape {arr.shape} for '{name}', expected {expect}")
    return arr


def _scores(out255: np.ndarray, target255: np.ndarray, space: str, border: int) -> tuple[float, float]:
    if space == "y":
        a, b = rgb_to_y(out255), rgb_to_y(target255)
    else:
        a, b = out255, target255
    a, b = shave(a, border), shave(b, border)
    return psnr(a, b, 255.0), ssim(a, b, 255.0)


def _centre_crop(a: np.ndarray, h: int, w: int) -> np.ndarray:
    top, left = (a.shape[0] - h) // 2, (a.shape[1] - w) // 2
    return a[top : top + h, left : left + w]


def pair_files(input_dir: Path | str, target_dir: Path | str) -> list[tuple[Path, Path]]:
    """``(input, target)`` files matched by stem, sorted by stem; raises if a stem has no partner."""
    inputs = {p.stem: p for p in list_images(input_dir)}
    targets = {p.stem: p for p in list_images(target_dir)}
    missing = sorted(set(inputs) ^ set(targets))
    if missing:
        raise ClarityError(
            f"{len(missing)} file(s) have no partner between '{input_dir}' and '{target_dir}' (e.g. '{missing[0]}'); "
            "input and target files must share their stem"
        )
    return [(inputs[s], targets[s]) for s in sorted(inputs)]


def evaluate(
    restore: RestoreFn,
    *,
    method: str,
    data: Path | str | None = None,
    degrade: str = "none",
    pairs: tuple[Path | str, Path | str] | None = None,
    seed: int = 0,
    limit: int | None = None,
    gray: bool | None = None,
    save: Saver | None = None,
    progress: Callable[[ImageScore], None] | None = None,
) -> EvalReport:
    """Run ``restore`` on every image of ``data`` degraded by ``degrade`` (or on ``pairs``) and score it.

    ``gray``: ``None`` keeps each file's own channel count; ``True``/``False`` forces it.
    ``save(name, uint8_image)`` receives each output; ``progress`` each :class:`ImageScore`.
    """
    if (data is None) == (pairs is None):
        raise ClarityError("give either a data folder (with --degrade) or --pairs INPUT_DIR TARGET_DIR")
    spec = degrade.strip().lower()
    kind, _, arg = spec.partition(":")
    scale, space, border, quantise = 1, "rgb", 0, True
    if pairs is not None:
        kind = "pairs"
    if kind == "awgn":
        if not arg or "-" in arg.lstrip("-"):
            raise ClarityError(f"evaluation needs one fixed sigma, e.g. --degrade awgn:25 (got '{degrade}')")
        try:
            sigma = float(arg)
        except ValueError:
            raise ClarityError(f"--degrade '{degrade}': sigma must be a number, e.g. awgn:25") from None
        quantise = False
    elif kind == "bicubic":
        if not arg.isdigit() or int(arg) < 2:
            raise ClarityError(f"evaluation needs one integer scale >= 2, e.g. --degrade bicubic:4 (got '{degrade}')")
        scale = int(arg)
        space, border = "y", scale
    elif kind not in ("none", "rain", "haze", "snow", "camera", "pairs"):
        raise ClarityError(
            f"--degrade '{degrade}' is not evaluable; use awgn:SIGMA, bicubic:S, rain, haze, snow, camera, camera:grain, camera:mixed or none"
        )

    if pairs is not None:
        entries = pair_files(*pairs)
        names = [p[0].stem for p in entries]
        dataset = f"{pairs[0]} -> {pairs[1]}"
    else:
        files = list_images(data)  # type: ignore[arg-type]
        names = [p.stem for p in files]
        dataset = str(data)
    count = len(names) if limit is None else max(0, min(limit, len(names)))

    scores: list[ImageScore] = []
    channel_counts: set[int] = set()
    for i in range(count):
        if pairs is not None:
            inp_u8 = read_uint8(entries[i][0], gray=gray)
            tgt_u8 = read_uint8(entries[i][1], gray=gray if gray is not None else inp_u8.shape[2] == 1)
            h, w = min(inp_u8.shape[0], tgt_u8.shape[0]), min(inp_u8.shape[1], tgt_u8.shape[1])
            inp_u8, tgt_u8 = _centre_crop(inp_u8, h, w), _centre_crop(tgt_u8, h, w)
            case = _Case(names[i], tgt_u8.astype(np.float64), inp_u8.astype(np.float64) / 255.0)
        else:
            clean_u8 = read_uint8(files[i], gray=gray)
            case = _make_case(names[i], clean_u8, kind, arg, scale, seed)
        baseline = case.inp * 255.0
        if scale > 1:
            baseline = imresize_np(_to_u8(baseline), scale)
        start = time.perf_counter()
        out = restore(case.inp.astype(np.float32), scale)
        seconds = time.perf_counter() - start
        out255 = _check_output(out, case.target.shape, method, case.name) * 255.0
        out255 = np.clip(out255, 0, 255)
        base255 = np.clip(baseline, 0, 255)
        if quantise:
            out255, base255 = np.round(out255), np.round(base255)
        channel_counts.add(case.target.shape[2])
        p, s = _scores(out255, case.target, space, border)
        bp, bs = _scores(base255, case.target, space, border)
        score = ImageScore(case.name, p, s, bp, bs, seconds)
        scores.append(score)
        if save is not None:
            save(case.name, _to_u8(out255))
        if progress is not None:
            progress(score)
    return EvalReport(
        method=method,
        dataset=dataset,
        degrade="pairs" if pairs is not None else spec,
        seed=seed,
        scale=scale,
        metric_space=_space_label(space, channel_counts),
        shave=border,
        baseline="bicubic" if scale > 1 else ("noisy input" if kind == "awgn" else "input"),
        images=tuple(scores),
    )


def _space_label(space: str, channel_counts: set[int]) -> str:
    """What the scores were computed on: ``"y"`` for luma (a gray image's luma is itself), otherwise
    ``"rgb"``, ``"gray"`` or ``"rgb+gray"`` by the targets' channel counts (``"rgb"`` when none were scored)."""
    if space == "y":
        return "y"
    if channel_counts == {1}:
        return "gray"
    return "rgb+gray" if 1 in channel_counts else "rgb"


def _make_case(name: str, clean_u8: np.ndarray, kind: str, arg: str, scale: int, seed: int) -> _Case:
    if kind == "awgn":
        clean = clean_u8.astype(np.float64)
        rng = np.random.default_rng(seed)
        noisy = clean + rng.standard_normal(clean.shape) * float(arg)
        return _Case(name, clean, noisy / 255.0)
    if kind == "bicubic":
        h, w = clean_u8.shape[0] - clean_u8.shape[0] % scale, clean_u8.shape[1] - clean_u8.shape[1] % scale
        hr = clean_u8[:h, :w]
        lr = imresize_uint8(hr, 1.0 / scale)
        return _Case(name, hr.astype(np.float64), lr.astype(np.float64) / 255.0)
    if kind == "none":
        return _Case(name, clean_u8.astype(np.float64), clean_u8.astype(np.float64) / 255.0)
    spec = f"{kind}:{arg}" if arg else kind  # e.g. camera:grain, not plain camera
    degraded, target = synthesize_uint8(clean_u8, spec, seed)
    return _Case(name, target.astype(np.float64), degraded.astype(np.float64) / 255.0)


def synthesize_uint8(clean_u8: np.ndarray, spec: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Degrade one uint8 ``(H, W, C)`` image with a torch degradation (``torch.Generator`` seeded
    with ``seed``); returns ``(degraded, target)`` as uint8 of the same size (not for SR).

    The target is ``clean_u8`` itself unless the degradation changes it (``camera:mixed`` turns
    some images into gray scans: their target is the gray image).
    """
    import torch

    from engine.training.degradations import parse_degradation

    degradation = parse_degradation(spec)
    clean = torch.from_numpy(np.ascontiguousarray(clean_u8.transpose(2, 0, 1))).float().div(255.0)[None]
    generator = torch.Generator().manual_seed(seed)
    batch = degradation(clean, generator)
    if batch.scale != 1:
        raise ClarityError(f"degradation '{spec}' changes the size; use --degrade bicubic:S for super-resolution")

    def to_u8(x: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(x[0].clamp(0, 1).mul(255.0).round().byte().numpy().transpose(1, 2, 0))

    target = clean_u8 if batch.clean is clean or torch.equal(batch.clean, clean) else to_u8(batch.clean)
    return to_u8(batch.degraded), target


def method_restore(
    method: str,
    params: dict[str, str] | None = None,
    *,
    tile: int | None = None,
    device: str = "auto",
    precision: str = "auto",
    ensemble: int = 1,
) -> RestoreFn:
    """The :data:`RestoreFn` for ``method``: ``baseline:NAME`` or a plugin id.

    Plugins run through :func:`engine.api.apply_filter` with ``params`` (strings, parsed and
    checked against the manifest). For super-resolution the ``scale`` parameter is set to the
    evaluation scale when the plugin has one and ``params`` does not. ``ensemble``: self-ensemble
    passes (``RunOptions.ensemble``; 1 = off).
    """
    if method.startswith("baseline:"):
        from engine.training.baselines import get_baseline

        if params:
            raise ClarityError(f"{method} takes no --param (got {', '.join(sorted(params))})")
        if ensemble != 1:
            raise ClarityError(f"{method} takes no --ensemble (self-ensemble runs plugins only)")
        return get_baseline(method.split(":", 1)[1])

    from engine.core.types import DeviceKind, Precision, RunOptions

    try:
        kind = DeviceKind(device)
    except ValueError:
        raise ClarityError(f"unknown device '{device}'; use one of {', '.join(d.value for d in DeviceKind)}") from None
    try:
        numeric = Precision(precision)
    except ValueError:
        raise ClarityError(f"unknown precision '{precision}'; use one of {', '.join(p.value for p in Precision)}") from None
    options = RunOptions(tile=tile, device=kind, precision=numeric, ensemble=ensemble)
    fixed = dict(params or {})

    def run(image: np.ndarray, scale: int) -> np.ndarray:
        from engine.api import apply_filter, list_plugins

        values = dict(fixed)
        if scale > 1 and "scale" not in values:
            info = next((i for i in list_plugins() if i.id == method), None)
            if info is not None and info.manifest is not None and info.manifest.parameter("scale") is not None:
                values["scale"] = str(scale)
        result = apply_filter(np.ascontiguousarray(image, dtype=np.float32), method, values, options=options)
        if result.scale != scale:
            raise ClarityError(f"plugin '{method}' upscaled by {result.scale}, the evaluation needs x{scale}; pass --param scale={scale}")
        return result.image

    return run
