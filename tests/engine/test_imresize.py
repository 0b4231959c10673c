"""MATLAB-compatible bicubic imresize: hand-derived references, numpy == torch, Set5 figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.core.errors import ClarityError
from engine.core.imresize import cubic, imresize_np, imresize_torch, imresize_uint8, output_size, resize_matrix

# Hand derivation for [1, 2, 3, 4] shrunk by 0.5 (MATLAB algorithm, antialiased):
# u = 1 / 0.5 + 0.5 * (1 - 2) = 1.5; kernel 0.5 * h(0.5 x) on taps -3..6 with weights (x 0.5)
# h(2.25)=0, h(1.75)=-0.0234375, h(1.25)=-0.0703125, h(0.75)=0.2265625, h(0.25)=0.8671875;
# mirrored taps [-3..6] -> [4,3,2,1,1,2,3,4,4,3]:
# 3*(-0.01171875) + 2*(-0.03515625) + 1*(0.11328125+0.43359375) + 2*0.43359375 + 3*0.11328125
# + 4*(-0.03515625-0.01171875) = 1.4609375
RAMP4_HALF = (1.4609375, 5.0 - 1.4609375)


def test_cubic_kernel_values() -> None:
    x = np.array([0.0, 0.25, 0.75, 1.0, 1.25, 1.75, 2.0, 2.5])
    expect = [1.0, 0.8671875, 0.2265625, 0.0, -0.0703125, -0.0234375, 0.0, 0.0]
    np.testing.assert_allclose(cubic(x), expect, atol=1e-15)
    np.testing.assert_allclose(cubic(-x), expect, atol=1e-15)


def test_ramp_1d_half_matches_hand_derivation() -> None:
    out = imresize_np(np.array([[1.0, 2.0, 3.0, 4.0]]), 0.5)
    # a 1x4 image shrinks to 1x2 (ceil(0.5)) : rows of one pixel are mirrored onto themselves
    np.testing.assert_allclose(out[0], RAMP4_HALF, atol=1e-12)


def test_ramp_4x4_to_2x2() -> None:
    img = np.arange(1, 17, dtype=np.float64).reshape(4, 4)
    out = imresize_np(img, 0.5)
    # separable and linear: row result + 4 * (column result - 1)
    expect = [[3.3046875, 5.3828125], [11.6171875, 13.6953125]]
    np.testing.assert_allclose(out, expect, atol=1e-12)


def test_upscale_interior_weights_are_classic_bicubic() -> None:
    m = resize_matrix(8, 16)
    np.testing.assert_allclose(m[4, :4], [-0.0234375, 0.2265625, 0.8671875, -0.0703125], atol=1e-15)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-12)


def test_shrink_rows_sum_to_one_and_constant_preserved() -> None:
    for n, s in ((12, 1 / 3), (16, 0.25), (10, 0.5)):
        np.testing.assert_allclose(resize_matrix(n, round(n * s), s).sum(axis=1), 1.0, atol=1e-12)
    flat = np.full((12, 9, 3), 0.3)
    np.testing.assert_allclose(imresize_np(flat, 1 / 3), 0.3, atol=1e-12)
    np.testing.assert_allclose(imresize_np(flat, 3.0), 0.3, atol=1e-12)


def test_output_size_like_matlab() -> None:
    assert output_size(12, 9, 1 / 3) == (4, 3)
    assert output_size(13, 10, 0.5) == (7, 5)
    assert output_size(5, 7, 4) == (20, 28)
    with pytest.raises(ClarityError):
        output_size(5, 5, 0)


def test_torch_matches_numpy(rng: np.random.Generator) -> None:
    img = rng.uniform(0, 255, (23, 18, 3))
    for s in (0.5, 1 / 3, 0.25, 2.0, 3.0):
        ref = imresize_np(img, s)
        t64 = imresize_torch(torch.from_numpy(img).permute(2, 0, 1)[None], s)[0].permute(1, 2, 0).numpy()
        np.testing.assert_allclose(t64, ref, atol=1e-9)
        t32 = imresize_torch(torch.from_numpy(img).float().permute(2, 0, 1), s).permute(1, 2, 0).numpy()
        np.testing.assert_allclose(t32, ref, atol=2e-3)


def test_uint8_rounds_and_clips(rng: np.random.Generator) -> None:
    img = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    out = imresize_uint8(img, 0.25)
    assert out.dtype == np.uint8 and out.shape == (4, 4, 3)
    np.testing.assert_array_equal(out, np.clip(np.round(imresize_np(img, 0.25)), 0, 255).astype(np.uint8))
    with pytest.raises(ClarityError):
        imresize_uint8(img.astype(np.float32), 0.5)


SET5 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "val" / "set5"


@pytest.mark.skipif(not SET5.is_dir(), reason="shared Set5 data not available")
def test_set5_x4_bicubic_matches_published_figure() -> None:
    from engine.training.baselines import get_baseline
    from engine.training.evaluate import evaluate

    report = evaluate(get_baseline("bicubic"), method="baseline:bicubic", data=SET5, degrade="bicubic:4")
    assert abs(report.mean_psnr - 28.42) < 0.03  # published: 28.42 dB (Y, shave 4)
    assert report.mean_psnr == pytest.approx(28.4308, abs=1e-3)
