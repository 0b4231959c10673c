"""numpy <-> QImage conversion for display.

Engine images are float32 ``(H, W, C)`` in ``[0, 1]`` with ``C`` in ``{1, 3}`` and an optional
``(H, W)`` alpha. Display images are 8 bit (``Format_RGB888`` / ``Format_Grayscale8``) or
16 bit (``Format_RGBX64`` / ``Format_Grayscale16``) so 16-bit files keep their gradations on
screens that can show them. Transparent pixels are composited over a grey checkerboard.
Every returned ``QImage`` owns its memory (it is copied out of the numpy buffer).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

CHECKER_LIGHT = 0.80
CHECKER_DARK = 0.60


def checkerboard(height: int, width: int, cell: int = 8) -> np.ndarray:
    """A ``(height, width)`` float32 grey checkerboard with ``cell``-pixel squares."""
    yy = (np.arange(height) // cell)[:, None]
    xx = (np.arange(width) // cell)[None, :]
    return np.where((yy + xx) % 2 == 0, CHECKER_LIGHT, CHECKER_DARK).astype(np.float32)


def composite_on_checker(pixels: np.ndarray, alpha: np.ndarray | None, cell: int = 8) -> np.ndarray:
    """``pixels`` blended over a checkerboard by ``alpha`` (unchanged when ``alpha`` is None)."""
    if alpha is None:
        return pixels
    a = np.clip(alpha.astype(np.float32), 0.0, 1.0)[..., None]
    board = checkerboard(pixels.shape[0], pixels.shape[1], cell)[..., None]
    return pixels * a + board * (1.0 - a)


def to_qimage(pixels: np.ndarray, alpha: np.ndarray | None = None, *, bits: int = 8, checker_cell: int = 8) -> QImage:
    """A display ``QImage`` of ``pixels`` (float in [0,1], ``(H,W)``, ``(H,W,1)`` or ``(H,W,3)``).

    ``bits`` is 8 or 16. With ``alpha`` the image is composited over a checkerboard.
    """
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    arr = np.asarray(pixels, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise ValueError(f"expected (H, W, 1|3) pixels, got shape {arr.shape}")
    arr = composite_on_checker(arr, alpha, checker_cell)
    h, w, c = arr.shape
    peak = 255.0 if bits == 8 else 65535.0
    dtype = np.uint8 if bits == 8 else np.uint16
    q = np.clip(np.rint(arr * peak), 0, peak).astype(dtype)
    if c == 1:
        data = np.ascontiguousarray(q[..., 0])
        fmt = QImage.Format.Format_Grayscale8 if bits == 8 else QImage.Format.Format_Grayscale16
        image = QImage(data.data, w, h, data.strides[0], fmt)
    elif bits == 8:
        data = np.ascontiguousarray(q)
        image = QImage(data.data, w, h, data.strides[0], QImage.Format.Format_RGB888)
    else:
        rgbx = np.empty((h, w, 4), np.uint16)
        rgbx[..., :3] = q
        rgbx[..., 3] = 65535
        data = rgbx
        image = QImage(data.data, w, h, data.strides[0], QImage.Format.Format_RGBX64)
    return image.copy()  # detach from the numpy buffer


def from_qimage(image: QImage) -> np.ndarray:
    """A float32 ``(H, W, 3)`` array in [0, 1] from any ``QImage`` (alpha dropped)."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w = rgb.height(), rgb.width()
    buf = np.frombuffer(rgb.constBits(), np.uint8, count=rgb.bytesPerLine() * h).reshape(h, rgb.bytesPerLine())
    return buf[:, : w * 3].reshape(h, w, 3).astype(np.float32) / 255.0


def downscale(pixels: np.ndarray, factor: int) -> np.ndarray:
    """``pixels`` shrunk by an integer ``factor`` with area averaging (for display pyramids)."""
    if factor <= 1:
        return pixels
    import cv2

    h, w = pixels.shape[:2]
    nh, nw = max(1, h // factor), max(1, w // factor)
    out = cv2.resize(np.ascontiguousarray(pixels, dtype=np.float32), (nw, nh), interpolation=cv2.INTER_AREA)
    if pixels.ndim == 3 and out.ndim == 2:
        out = out[..., None]
    return out
