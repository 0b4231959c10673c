"""MATLAB-compatible bicubic ``imresize`` for numpy and torch (same numbers on both).

Reimplements the documented algorithm of MATLAB's ``imresize(img, scale, 'bicubic')``
(antialiasing on, the default):

- cubic kernel with ``a = -0.5``:
  ``h(x) = 1.5|x|^3 - 2.5|x|^2 + 1`` for ``|x| <= 1``,
  ``-0.5|x|^3 + 2.5|x|^2 - 4|x| + 2`` for ``1 < |x| <= 2``, else 0;
- shrinking by ``s < 1`` widens the kernel: ``h_s(x) = s * h(s x)``, support ``4 / s``;
- output pixel ``j`` (1-based) maps to input coordinate ``u = j / s + 0.5 (1 - 1 / s)``;
  the taps are ``floor(u - width / 2) + 0 .. ceil(width) + 1``, weights ``h_s(u - tap)``
  normalised to sum 1;
- taps outside the image are mirrored symmetrically (``[1..n, n..1]`` repeated);
- the dimension with the smaller scale factor is resized first (rows first on a tie).

Each 1-D resize is a dense ``(out, in)`` matrix (mirrored taps are summed into it), so the
torch version is two matmuls on any device and the numpy version the same in float64.
Results are NOT rounded; the evaluation protocol rounds the LR made from uint8 images to
uint8 like MATLAB does (see :func:`imresize_uint8`).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from engine.core.errors import ClarityError

if TYPE_CHECKING:  # pragma: no cover
    import torch


def cubic(x: np.ndarray) -> np.ndarray:
    """MATLAB's bicubic kernel (``a = -0.5``) evaluated at ``x``."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


@lru_cache(maxsize=64)
def _matrix_cached(in_len: int, out_len: int, scale: float, antialias: bool) -> np.ndarray:
    kernel_width = 4.0
    if scale < 1 and antialias:
        kernel_width = 4.0 / scale
    j = np.arange(1, out_len + 1, dtype=np.float64)
    u = j / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - kernel_width / 2.0)
    taps = int(math.ceil(kernel_width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]  # 1-based input indices
    dist = u[:, None] - idx
    if scale < 1 and antialias:
        weights = scale * cubic(dist * scale)
    else:
        weights = cubic(dist)
    weights = weights / weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    cols = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    matrix = np.zeros((out_len, in_len), dtype=np.float64)
    rows = np.repeat(np.arange(out_len), taps)
    np.add.at(matrix, (rows, cols.ravel()), weights.ravel())
    matrix.setflags(write=False)
    return matrix


def resize_matrix(in_len: int, out_len: int, scale: float | None = None, *, antialias: bool = True) -> np.ndarray:
    """The ``(out_len, in_len)`` float64 matrix of MATLAB's 1-D bicubic resize.

    ``scale`` defaults to ``out_len / in_len`` (MATLAB uses the requested scale factor, which
    differs from that ratio when the size is not a multiple; pass it explicitly then).
    """
    if in_len <= 0 or out_len <= 0:
        raise ClarityError(f"cannot resize a length-{in_len} axis to {out_len}; both must be positive")
    s = float(out_len) / in_len if scale is None else float(scale)
    return _matrix_cached(int(in_len), int(out_len), s, bool(antialias))


def output_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """MATLAB's output size for a scale factor: ``ceil(scale * size)`` per axis."""
    if scale <= 0:
        raise ClarityError(f"resize scale {scale} must be positive (e.g. 0.25 to shrink by 4, 2 to enlarge)")
    # round first so 1/3 * 12 = 3.9999999 does not become 5 through float error
    return (int(math.ceil(round(height * scale, 9))), int(math.ceil(round(width * scale, 9))))


def imresize_np(img: np.ndarray, scale: float, *, antialias: bool = True) -> np.ndarray:
    """Resize an ``(H, W)`` or ``(H, W, C)`` array by ``scale`` like MATLAB's bicubic ``imresize``.

    Computes in float64 and returns float64 (no rounding, no clipping), in the input's value scale.
    """
    if img.ndim not in (2, 3):
        raise ClarityError(f"imresize needs an (H, W) or (H, W, C) image, got shape {img.shape}")
    x = img.astype(np.float64)
    h, w = x.shape[:2]
    oh, ow = output_size(h, w, scale)
    mh = resize_matrix(h, oh, scale, antialias=antialias)
    mw = resize_matrix(w, ow, scale, antialias=antialias)
    # MATLAB order: smaller scale first; with one scale for both axes: rows (dim 1) first
    x = np.tensordot(mh, x, axes=(1, 0))  # (oh, W, ...)
    x = np.moveaxis(np.tensordot(mw, x, axes=(1, 1)), 0, 1)  # (oh, ow, ...)
    return x


def imresize_uint8(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize`` of a uint8 image: compute in float, round and clip to uint8."""
    if img.dtype != np.uint8:
        raise ClarityError(f"imresize_uint8 needs a uint8 image, got {img.dtype}")
    return np.clip(np.round(imresize_np(img, scale)), 0, 255).astype(np.uint8)


def imresize_torch(x: torch.Tensor, scale: float, *, antialias: bool = True) -> torch.Tensor:
    """Torch version of :func:`imresize_np` for ``(..., H, W)`` tensors on any device.

    Same numbers as the numpy version up to the tensor's float precision; differentiable.
    Returns the input dtype (float16/bfloat16 inputs are computed in float32).
    """
    import torch

    if x.ndim < 2:
        raise ClarityError(f"imresize needs a (..., H, W) tensor, got shape {tuple(x.shape)}")
    h, w = int(x.shape[-2]), int(x.shape[-1])
    oh, ow = output_size(h, w, scale)
    compute = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    mh = torch.tensor(resize_matrix(h, oh, scale, antialias=antialias), device=x.device, dtype=compute)
    mw = torch.tensor(resize_matrix(w, ow, scale, antialias=antialias), device=x.device, dtype=compute)
    y = torch.matmul(mh, x.to(compute))  # (..., oh, W)
    y = torch.matmul(y, mw.transpose(0, 1))  # (..., oh, ow)
    return y.to(x.dtype) if x.is_floating_point() else y
