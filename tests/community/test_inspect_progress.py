"""Inspection of a model file: stages reported in order, cancel between and inside stages, probe memory bound."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.cancel import CancelToken
from engine.core.errors import CancelledError
from engine.core.types import Progress
from engine.model_import import inspect_model
from plugins.community.detect import describe, load_descriptor
from plugins.community.measure import STAGES, Steps, measure_radius, saved_bytes
from tests.community.tiny_models import tiny_state_dict


def _saved(tmp_path: Path, arch: str) -> Path:
    path = tmp_path / f"{arch.lower()}.pth"
    torch.save(tiny_state_dict(arch), path)
    return path


def test_stages_are_reported_in_order(tmp_path: Path) -> None:
    seen: list[Progress] = []
    plan = inspect_model(_saved(tmp_path, "Compact"), progress=seen.append)
    assert [p.done for p in seen] == [0, 1, 2, 3, 4]  # one receptive-field probe, one tiled check
    assert all(p.total == len(STAGES) for p in seen)
    assert seen[3].message == "measuring the receptive field (48 px probe)"
    assert seen[4].message == "checking tiled against whole-image output (overlap 5 px)"
    assert plan.tiling.seconds > 0 and "measured in" in plan.summary_lines()[-1]


def test_cancel_at_a_stage_raises_cancelled(tmp_path: Path) -> None:
    token = CancelToken()
    seen: list[str] = []

    def report(p: Progress) -> None:
        seen.append(p.message)
        if p.message.startswith("measuring"):
            token.cancel()

    with pytest.raises(CancelledError):
        inspect_model(_saved(tmp_path, "Compact"), progress=report, cancel=token)
    assert seen == ["reading the file", "detecting the architecture", "test run", "measuring the receptive field (48 px probe)"]


def test_cancel_inside_a_forward_pass_stops_before_the_next_layer() -> None:
    descriptor = load_descriptor(tiny_state_dict("DnCNN"), "tiny.pth")
    calls: list[str] = []
    stop = {"now": False}
    steps = Steps(None, lambda: stop["now"])
    layers = list(descriptor.model.modules())

    def count(_module, _inputs) -> None:  # noqa: ANN001
        calls.append("layer")
        if len(calls) == 3:
            stop["now"] = True  # the user clicks Cancel while the third layer runs

    handles = [m.register_forward_pre_hook(count) for m in layers]
    try:
        with steps.interruptible(descriptor.model), pytest.raises(CancelledError):
            descriptor.model(torch.rand(1, 3, 16, 16))
    finally:
        for h in handles:
            h.remove()
    assert len(calls) == 3  # hooks run in registration order: ours, then the cancel check
    assert not any(m._forward_pre_hooks for m in layers)  # the cancel hooks were removed


def test_saved_bytes_counts_each_saved_tensor_once() -> None:
    x = torch.rand(1, 1, 4, 4, requires_grad=True)
    w = torch.rand(1, 1, 4, 4, requires_grad=True)
    y, size = saved_bytes(lambda t: (t * w) * w, x)
    assert y.shape == (1, 1, 4, 4)
    assert size == 3 * 16 * 4  # x, w and t * w; w saved twice but counted once


def test_probe_memory_budget_stops_wider_probes() -> None:
    descriptor = load_descriptor(tiny_state_dict("NAFNet"), "tiny-nafnet.pth")
    detection = describe(descriptor)
    radius, probe, why = measure_radius(descriptor, detection, budget=1)
    assert radius is None and probe == 48
    assert why.startswith("receptive field wider than the 48 px probe; a 96 px probe would need about")
    assert why.endswith("(limit 0.0 GiB)")
