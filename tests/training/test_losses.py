"""Pixel losses and EMA: exact numbers."""

from __future__ import annotations

import math

import pytest
import torch

from engine.training.ema import EMA, warmup_decay
from engine.training.losses import charbonnier, pixel_loss


def test_pixel_losses_exact() -> None:
    a = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    b = torch.tensor([[1.0, 1.0], [0.0, 3.0]])
    assert float(pixel_loss("l1", a, b)) == pytest.approx(0.75)
    assert float(pixel_loss("l2", a, b)) == pytest.approx(1.25)
    expect = (math.sqrt(1 + 1e-6) + 2 * math.sqrt(1e-6) + math.sqrt(4 + 1e-6)) / 4
    assert float(pixel_loss("charbonnier", a, b)) == pytest.approx(expect, rel=1e-6)
    assert float(charbonnier(a, a, eps=0.5)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="psnr"):
        pixel_loss("ssim", a, b)


def test_psnr_loss_is_minus_the_mean_per_sample_psnr() -> None:
    clean = torch.zeros(2, 3, 4, 4)
    pred = clean.clone()
    pred[0] += 0.1  # MSE 1e-2: 20 dB
    pred[1] += 0.01  # MSE 1e-4: 40 dB
    expect = (10 * math.log10(1e-2 + 1e-5) + 10 * math.log10(1e-4 + 1e-5)) / 2
    assert float(pixel_loss("psnr", pred, clean)) == pytest.approx(expect, rel=1e-5)
    # the batch MSE would be dominated by sample 0; in decibels both count the same, so
    # halving either sample's error lowers the loss by the same ~3 dB
    pred.requires_grad_(True)
    pixel_loss("psnr", pred, clean).backward()
    grad = pred.grad.reshape(2, -1).norm(dim=1)
    assert float(grad[1] / grad[0]) == pytest.approx(0.1 * (1e-2 + 1e-5) / (1e-4 + 1e-5), rel=1e-4)
    # a perfect sample is bounded by the floor (50 dB), not -inf
    assert float(pixel_loss("psnr", clean[:1], clean[:1])) == pytest.approx(-50.0)


def test_pixel_loss_runs_in_float32_for_half_inputs() -> None:
    a = torch.full((4,), 1000.0, dtype=torch.float16)
    b = torch.zeros(4, dtype=torch.float16)
    out = pixel_loss("l2", a, b)
    assert out.dtype == torch.float32 and float(out) == 1e6  # would overflow in fp16


def test_ema_update_exact_and_buffers_copied() -> None:
    net = torch.nn.BatchNorm1d(2)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([1.0, 2.0]))
    ema = EMA(net, 0.75)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([5.0, 6.0]))
        net.running_mean.copy_(torch.tensor([3.0, 4.0]))
    ema.update(net, updates=1000)  # warm-up over: the decay is the configured 0.75
    sd = ema.state_dict()
    assert torch.allclose(sd["weight"], torch.tensor([2.0, 3.0]))  # 0.75*old + 0.25*new
    assert torch.equal(sd["running_mean"], torch.tensor([3.0, 4.0]))
    assert sd["num_batches_tracked"].dtype == torch.int64
    with pytest.raises(ValueError):
        EMA(net, 1.0)


def test_ema_warmup_decay_values() -> None:
    assert warmup_decay(0.999, 1) == pytest.approx(0.1)
    assert warmup_decay(0.999, 9) == pytest.approx(0.5)
    assert warmup_decay(0.999, 81) == pytest.approx(0.9)
    assert warmup_decay(0.999, 10_000) == 0.999
    assert warmup_decay(0.5, 3) == 0.25 and warmup_decay(0.5, 20) == 0.5  # capped by the configured decay


def test_ema_forgets_the_random_initialisation_in_a_short_run() -> None:
    """After 100 updates of a weight moving from 0 to 1, the EMA is within 0.1 of the weight (a fixed 0.999 kept 90 % of the start)."""
    net = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    ema = EMA(net, 0.999)
    for n in range(1, 101):
        with torch.no_grad():
            net.weight.fill_(1.0)
        ema.update(net, updates=n)
    # exact: the first update has decay 0.1, so the shadow is 0.9 at once; every later update moves toward 1
    shadow = 0.0
    for n in range(1, 101):
        d = warmup_decay(0.999, n)
        shadow = d * shadow + (1 - d) * 1.0
    assert float(ema.state_dict()["weight"]) == pytest.approx(shadow, rel=1e-6)
    assert shadow > 0.99
