"""Training data: load image folders once into memory and sample random augmented crops.

- :func:`list_images` / :func:`read_uint8`: sorted image files and Pillow reading to uint8
  ``(H, W, C)`` arrays (C = 1 for gray, 3 for colour; alpha dropped, 16-bit scaled down).
- :func:`load_images`: every image of some folders as uint8 ``(C, H, W)`` tensors.
- :func:`with_rescaled_copies`: those images plus MATLAB-bicubic downscaled copies (multi-scale data).
- :class:`CropSampler`: random ``patch x patch`` crops with random flips and 90-degree
  rotations, batched on the device, deterministic for a seed.

Only torch, numpy and Pillow are used (this runs on the training machine).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from engine.core.errors import ClarityError, UnsupportedImageError

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})


def list_images(folder: Path | str) -> list[Path]:
    """Image files directly inside ``folder``, in sorted filename order."""
    root = Path(folder)
    if not root.is_dir():
        raise ClarityError(f"image folder '{root}' does not exist or is not a folder")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ClarityError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in '{root}'")
    return files


def read_uint8(path: Path | str, *, gray: bool | None = None) -> np.ndarray:
    """Read an image as uint8 ``(H, W, C)``.

    ``gray=True`` converts to one channel (ITU-R 601 luma, Pillow's ``L``), ``gray=False`` to
    RGB, ``None`` keeps gray images gray and makes everything else RGB.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                scale = 65535.0 if arr.max() > 255 else 255.0
                im = Image.fromarray(np.round(arr / scale * 255.0).astype(np.uint8), "L")
            is_gray = im.mode in ("L", "1", "LA", "P") and (im.mode != "P" or _palette_is_gray(im))
            want_gray = is_gray if gray is None else gray
            im = im.convert("L" if want_gray else "RGB")
            arr = np.array(im, dtype=np.uint8)
    except (OSError, ValueError) as exc:
        raise UnsupportedImageError(f"cannot read image '{path}': {exc}") from exc
    return arr[..., None] if arr.ndim == 2 else arr


def _palette_is_gray(im) -> bool:  # type: ignore[no-untyped-def]
    rgb = np.asarray(im.convert("RGB"))
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


def load_images(folders: Sequence[Path | str] | Path | str, *, gray: bool) -> list[torch.Tensor]:
    """All images of ``folders`` (sorted per folder) as uint8 ``(C, H, W)`` CPU tensors, C = 1 or 3."""
    if isinstance(folders, (str, Path)):
        folders = [folders]
    images: list[torch.Tensor] = []
    for folder in folders:
        for path in list_images(folder):
            arr = read_uint8(path, gray=gray)
            images.append(torch.from_numpy(arr.transpose(2, 0, 1).copy()))
    return images


def with_rescaled_copies(images: Sequence[torch.Tensor], scales: Sequence[float], *, patch: int) -> list[torch.Tensor]:
    """``images`` at each of ``scales`` (in order, scale by scale), as uint8 ``(C, H, W)`` tensors.

    A scale of 1.0 keeps the originals as they are; any other is MATLAB's bicubic ``imresize``
    (antialiased, rounded to uint8), the multi-scale patch set of DnCNN and FFDNet. Every copy
    must still hold a ``patch`` crop: a scale that makes an image smaller raises a
    :class:`ClarityError` naming it. Scales must be in ``(0, 1]``.
    """
    from engine.core.imresize import imresize_uint8

    out: list[torch.Tensor] = []
    for scale in scales:
        if not 0.0 < scale <= 1.0:
            raise ClarityError(f"rescale factor {scale} is outside (0, 1]; use e.g. [1.0, 0.9, 0.8, 0.7]")
        for im in images:
            if scale == 1.0:
                out.append(im)
                continue
            small = imresize_uint8(im.numpy().transpose(1, 2, 0), scale)  # (h, w, C): C kept, also for C = 1
            if min(small.shape[:2]) < patch:
                raise ClarityError(
                    f"rescale factor {scale} makes a {tuple(im.shape[1:])} training image {small.shape[:2]}, "
                    f"smaller than the {patch}px patch; use a larger factor or a smaller patch"
                )
            out.append(torch.from_numpy(np.ascontiguousarray(small.transpose(2, 0, 1))))
    return out


class CropSampler:
    """Random augmented crops from in-memory images, produced on ``device``.

    ``next()`` returns ``(batch, C, patch, patch)`` float32 in [0, 1]. Each sample picks an
    image uniformly, a uniform crop position, and one of the 8 flip/rot90 transforms. Images
    are moved to ``device`` once at construction. Deterministic for a given ``seed`` (on a
    given device type). Images smaller than ``patch`` raise a :class:`ClarityError`.
    """

    def __init__(self, images: Sequence[torch.Tensor], patch: int, batch: int, *, device: str | torch.device = "cpu", seed: int = 0) -> None:
        if not images:
            raise ClarityError("CropSampler needs at least one image; check the training folders")
        if patch <= 0 or batch <= 0:
            raise ClarityError(f"patch ({patch}) and batch ({batch}) must be positive")
        channels = {int(im.shape[0]) for im in images}
        if len(channels) != 1:
            raise ClarityError(f"images mix channel counts {sorted(channels)}; load them with gray=True or gray=False")
        small = [tuple(im.shape[1:]) for im in images if im.shape[1] < patch or im.shape[2] < patch]
        if small:
            raise ClarityError(f"{len(small)} image(s) are smaller than the {patch}px patch (e.g. {small[0]}); use a smaller --patch")
        self.device = torch.device(device)
        self.images = [im.to(self.device) for im in images]
        self.patch = patch
        self.batch = batch
        self.channels = channels.pop()
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self._heights = torch.tensor([im.shape[1] for im in images], dtype=torch.float64)
        self._widths = torch.tensor([im.shape[2] for im in images], dtype=torch.float64)

    def next(self) -> torch.Tensor:
        """The next batch of crops, ``(batch, C, patch, patch)`` float32 in [0, 1] on the device."""
        g = self.generator
        n, p = self.batch, self.patch
        r = torch.rand((n, 3), generator=g, device=self.device, dtype=torch.float64).cpu()
        which = torch.randint(0, 8, (n,), generator=g, device=self.device).cpu()
        idx = (r[:, 0] * len(self.images)).long().clamp_max(len(self.images) - 1)
        out = torch.empty((n, self.channels, p, p), device=self.device, dtype=torch.float32)
        for k in range(n):
            i = int(idx[k])
            top = int(r[k, 1] * (self._heights[i] - p + 1))
            left = int(r[k, 2] * (self._widths[i] - p + 1))
            crop = self.images[i][:, top : top + p, left : left + p]
            t = int(which[k])
            if t & 4:
                crop = crop.flip(-1)
            out[k] = torch.rot90(crop, t & 3, dims=(-2, -1)).float()
        return out.div_(255.0)
