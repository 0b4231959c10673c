"""PSNR with a known MSE, SSIM equal to scikit-image, BT.601 luma, shave."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from engine.core.errors import ClarityError
from engine.training.metrics import psnr, psnr_torch, rgb_to_y, shave, ssim


def _skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    kw = dict(data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    if a.ndim == 3:
        return float(structural_similarity(a, b, channel_axis=2, **kw))
    return float(structural_similarity(a, b, **kw))


def test_psnr_constant_offset_is_exact() -> None:
    a = np.zeros((8, 9, 3))
    assert psnr(a, a + 5.0) == pytest.approx(34.15140352195873, abs=1e-12)  # 10 log10(255^2 / 25)
    assert psnr(a, a + 0.1, data_range=1.0) == pytest.approx(20.0, abs=1e-12)
    assert psnr(a, a) == math.inf


def test_psnr_shape_mismatch_raises() -> None:
    with pytest.raises(ClarityError, match="differ in shape"):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))


@pytest.mark.parametrize("shape", [(32, 41), (27, 30, 3), (11, 11)])
def test_ssim_matches_skimage(rng: np.random.Generator, shape: tuple[int, ...]) -> None:
    a = rng.uniform(0, 255, shape)
    yy = np.linspace(0, 60, shape[0])[:, None]
    a = a * 0.5 + (yy if len(shape) == 2 else yy[..., None])
    b = a + rng.normal(0, 15, shape)
    assert ssim(a, b) == pytest.approx(_skimage_ssim(a, b), abs=1e-6)


def test_ssim_uint8_and_identity(rng: np.random.Generator) -> None:
    a = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
    assert ssim(a, b) == pytest.approx(_skimage_ssim(a.astype(np.float64), b.astype(np.float64)), abs=1e-6)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ClarityError, match="at least 11x11"):
        ssim(a[:10], a[:10])


def test_rgb_to_y_values() -> None:
    img = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(rgb_to_y(img)[0], [16.0, 235.0, 81.481, 144.553, 40.966], atol=1e-9)
    np.testing.assert_allclose(rgb_to_y(img.astype(np.float64) / 255.0, data_range=1.0)[0, 1], 235.0, atol=1e-9)
    gray = np.full((3, 4, 1), 77, np.uint8)
    assert rgb_to_y(gray).shape == (3, 4) and float(rgb_to_y(gray)[0, 0]) == 77.0


def test_shave() -> None:
    img = np.arange(6 * 7).reshape(6, 7)
    np.testing.assert_array_equal(shave(img, 2), img[2:4, 2:5])
    assert shave(img, 0) is img
    with pytest.raises(ClarityError):
        shave(img, 3)


def test_psnr_torch_per_image() -> None:
    a = torch.zeros(2, 3, 4, 4)
    b = a.clone()
    b[0] += 0.1
    b[1] += 0.01
    np.testing.assert_allclose(psnr_torch(a, b).numpy(), [20.0, 40.0], atol=1e-4)
