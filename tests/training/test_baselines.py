"""Classical baselines: box/guided filters, dark channel prior dehazing, guided deraining."""

from __future__ import annotations

import numpy as np
import pytest

from engine.core.errors import ClarityError
from engine.core.imresize import imresize_np
from engine.training.baselines import (
    box_filter,
    dark_channel_prior,
    get_baseline,
    guided_derain,
    guided_filter,
    min_filter,
)
from engine.training.metrics import psnr


def _scene(h: int = 48, w: int = 56) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([0.2 + 0.5 * xx, 0.15 + 0.4 * yy, 0.1 + 0.3 * (xx * yy)], axis=-1)
    img[h // 3 : h // 2, w // 4 : w // 2] = [0.05, 0.3, 0.1]
    return img


def test_box_and_min_filter_match_naive(rng: np.random.Generator) -> None:
    img = rng.uniform(0, 1, (9, 11))
    r = 2
    p = np.pad(img, r, mode="edge")
    naive_mean = np.array([[p[i : i + 5, j : j + 5].mean() for j in range(11)] for i in range(9)])
    naive_min = np.array([[p[i : i + 5, j : j + 5].min() for j in range(11)] for i in range(9)])
    np.testing.assert_allclose(box_filter(img, r), naive_mean, atol=1e-12)
    np.testing.assert_allclose(min_filter(img, r), naive_min, atol=0)


def test_guided_filter_small_eps_keeps_guide(rng: np.random.Generator) -> None:
    img = rng.uniform(0, 1, (20, 20))
    np.testing.assert_allclose(guided_filter(img, img, 2, 1e-8), img, atol=1e-4)
    flat = guided_filter(img, img, 2, 1e3)
    assert flat.std() < 0.3 * img.std()  # huge eps: plain box smoothing


def test_dcp_removes_synthetic_haze() -> None:
    clean = _scene()
    t, airlight = 0.55, np.array([0.9, 0.92, 0.95])
    hazy = clean * t + airlight * (1 - t)
    out = dark_channel_prior(hazy, patch=7, radius=8)
    assert out.shape == hazy.shape
    assert psnr(out, clean, 1.0) > psnr(hazy, clean, 1.0) + 5.0


def test_guided_derain_removes_thin_bright_streaks() -> None:
    clean = _scene()
    rainy = clean.copy()
    for col in range(3, 56, 7):
        rainy[5:40, col] = np.clip(rainy[5:40, col] + 0.35, 0, 1)
    out = guided_derain(rainy)
    assert psnr(out, clean, 1.0) > psnr(rainy, clean, 1.0) + 3.0


def test_registry_and_scale_handling() -> None:
    img = _scene(12, 12)
    assert get_baseline("identity")(img, 1) is img
    up = get_baseline("bicubic")(img, 2)
    np.testing.assert_allclose(up, np.clip(imresize_np(np.round(img * 255), 2) / 255, 0, 1), atol=1e-12)
    with pytest.raises(ClarityError, match="does not upscale"):
        get_baseline("dcp")(img, 2)
    with pytest.raises(ClarityError, match="available"):
        get_baseline("bm3d")
