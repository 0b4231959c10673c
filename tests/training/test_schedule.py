"""Learning-rate schedules: exact values."""

from __future__ import annotations

import math

import pytest

from engine.training.config import OptimConfig
from engine.training.schedule import lr_at, lr_for


def test_warmup_then_cosine_exact() -> None:
    lrs = [lr_at(s, lr=1.0, total_steps=6, warmup_steps=2, schedule="cosine", min_lr=0.1) for s in range(7)]
    assert lrs[:2] == [0.5, 1.0]
    assert lrs[2] == pytest.approx(1.0)
    assert lrs[4] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lrs[6] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:]))


def test_multistep_and_constant() -> None:
    got = [lr_at(s, lr=0.8, total_steps=100, schedule="multistep", milestones=(3, 5), gamma=0.5) for s in (0, 2, 3, 4, 5, 99)]
    assert got == [0.8, 0.8, 0.4, 0.4, 0.2, 0.2]
    assert lr_at(50, lr=0.3, total_steps=10, schedule="constant") == 0.3
    assert lr_at(0, lr=0.3, total_steps=10, warmup_steps=3, schedule="constant") == pytest.approx(0.1)
    with pytest.raises(ValueError):
        lr_at(0, lr=1.0, total_steps=1, schedule="linear")


def test_lr_for_reads_the_config() -> None:
    cfg = OptimConfig(lr=2e-3, warmup_steps=0, schedule="cosine", min_lr=0.0)
    assert lr_for(cfg, 0, 10) == pytest.approx(2e-3)
    assert lr_for(cfg, 5, 10) == pytest.approx(1e-3)
    assert lr_for(cfg, 10, 10) == pytest.approx(0.0)
