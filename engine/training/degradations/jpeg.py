"""JPEG compression simulated in torch: 8x8 DCT quantisation with IJG quality tables.

No libjpeg: runs batched on any device. Colour images go through full-range YCbCr with 4:2:0
chroma subsampling (2x2 average, nearest upsampling back); gray images use the luma table.
The result is rounded to 1/255 steps and clipped to [0, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LUMA_TABLE = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)
CHROMA_TABLE = (
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
)


def quality_tables(quality: torch.Tensor, base: tuple[int, ...]) -> torch.Tensor:
    """``(N, 8, 8)`` IJG quantisation tables for per-sample ``quality`` in [1, 100]."""
    q = quality.float().clamp(1, 100)
    scale = torch.where(q < 50, 5000.0 / q, 200.0 - 2.0 * q)
    table = torch.tensor(base, dtype=torch.float32, device=quality.device).view(1, 8, 8)
    return torch.floor((table * scale.view(-1, 1, 1) + 50.0) / 100.0).clamp(1.0, 255.0)


def dct_matrix(device: torch.device) -> torch.Tensor:
    """The orthonormal 8-point DCT-II matrix ``M`` (``D = M B M^T``)."""
    k = torch.arange(8, dtype=torch.float32, device=device).view(8, 1)
    i = torch.arange(8, dtype=torch.float32, device=device).view(1, 8)
    m = torch.cos((2 * i + 1) * k * math.pi / 16) * math.sqrt(2 / 8)
    m[0] /= math.sqrt(2)
    return m


def _quantise_plane(plane: torch.Tensor, tables: torch.Tensor) -> torch.Tensor:
    """DCT-quantise an ``(N, H, W)`` plane (values 0-255) with per-sample ``(N, 8, 8)`` tables."""
    n, h, w = plane.shape
    ph, pw = (-h) % 8, (-w) % 8
    x = F.pad(plane.unsqueeze(1), (0, pw, 0, ph), mode="replicate").squeeze(1) - 128.0
    hb, wb = x.shape[1] // 8, x.shape[2] // 8
    blocks = x.reshape(n, hb, 8, wb, 8).permute(0, 1, 3, 2, 4)
    m = dct_matrix(plane.device)
    coef = m @ blocks @ m.T
    t = tables.view(n, 1, 1, 8, 8)
    coef = torch.round(coef / t) * t
    rec = (m.T @ coef @ m).permute(0, 1, 3, 2, 4).reshape(n, hb * 8, wb * 8) + 128.0
    return rec[:, :h, :w]


def jpeg(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """JPEG-compress a batch ``(N, 1|3, H, W)`` in [0, 1] at per-sample ``quality`` (``(N,)``)."""
    v = x.float().clamp(0, 1) * 255.0
    luma_t = quality_tables(quality, LUMA_TABLE)
    if x.shape[1] == 1:
        out = _quantise_plane(v[:, 0], luma_t).unsqueeze(1)
    else:
        r, g, b = v[:, 0], v[:, 1], v[:, 2]
        y = 0.299 * r + 0.587 * g + 0.114 * b
        cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128.0
        cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128.0
        chroma_t = quality_tables(quality, CHROMA_TABLE)
        h, w = y.shape[-2:]
        yq = _quantise_plane(y, luma_t)
        chroma = []
        for c in (cb, cr):
            c = F.pad(c.unsqueeze(1), (0, w % 2, 0, h % 2), mode="replicate")
            small = F.avg_pool2d(c, 2).squeeze(1)
            small = _quantise_plane(small, chroma_t)
            chroma.append(small.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)[:, :h, :w])
        cbq, crq = chroma[0] - 128.0, chroma[1] - 128.0
        out = torch.stack(
            [yq + 1.402 * crq, yq - 0.344136 * cbq - 0.714136 * crq, yq + 1.772 * cbq], dim=1
        )
    return (out.clamp(0, 255).round() / 255.0).to(x.dtype)
