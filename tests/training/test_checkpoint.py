"""Checkpoint files: safetensors + JSON sidecar, no pickle, exact round trips."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.training.checkpoint import (
    CheckpointError,
    CheckpointMeta,
    capture_rng,
    flatten_optimizer,
    load_checkpoint,
    restore_optimizer,
    restore_rng,
    save_checkpoint,
)


def test_roundtrip_and_mismatch_detection(tmp_path: Path) -> None:
    t = {"model.w": torch.arange(6, dtype=torch.float32).view(2, 3), "optim.0.step": torch.tensor(3.0)}
    meta = CheckpointMeta(step=7, config_toml='name = "x"\n', commands=["clarity train --config a.toml"], best_metric=30.5)
    st = save_checkpoint(tmp_path / "last", t, meta)
    assert st == tmp_path / "last.safetensors" and (tmp_path / "last.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.json", "last.safetensors"]  # no temp file left
    assert b"\x80\x04" not in st.read_bytes()[:8]  # not a pickle
    tensors, meta2 = load_checkpoint(tmp_path / "last.json")
    assert meta2 == meta and all(torch.equal(t[k], tensors[k]) for k in t)
    other = CheckpointMeta(step=8, config_toml="")
    (tmp_path / "last.json").write_text(other.to_json())
    with pytest.raises(CheckpointError, match="do not belong together"):
        load_checkpoint(st)
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(tmp_path / "nothing.safetensors")
    data = json.loads(meta.to_json())
    data["future_key"] = 1
    (tmp_path / "last.json").write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="future_key"):
        load_checkpoint(st)


def test_optimizer_state_roundtrip_continues_identically(tmp_path: Path) -> None:
    def make() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(0)
        net = torch.nn.Linear(3, 2)
        return net, torch.optim.AdamW(net.parameters(), lr=0.1, betas=(0.8, 0.9), weight_decay=0.01)

    x = torch.linspace(-1, 1, 12).view(4, 3)
    net, opt = make()
    for _ in range(2):
        opt.zero_grad()
        net(x).pow(2).sum().backward()
        opt.step()
    tensors, meta = flatten_optimizer(opt)
    save_checkpoint(tmp_path / "c", {**tensors, **{f"model.{k}": v for k, v in net.state_dict().items()}},
                    CheckpointMeta(step=2, config_toml="", optimizer=meta))
    loaded, m = load_checkpoint(tmp_path / "c")
    net2, opt2 = make()
    net2.load_state_dict({k[6:]: v for k, v in loaded.items() if k.startswith("model.")})
    restore_optimizer(opt2, loaded, m.optimizer)
    assert opt2.param_groups[0]["betas"] == (0.8, 0.9)
    for n, o in ((net, opt), (net2, opt2)):
        o.zero_grad()
        n(x).pow(2).sum().backward()
        o.step()
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), net2.parameters()))


def test_rng_states_restore_exactly() -> None:
    g = torch.Generator().manual_seed(5)
    tensors, py, npst = capture_rng({"g": g})
    json.dumps([py, npst])  # JSON-able
    first = (torch.rand(3), torch.rand(2, generator=g), np.random.rand(2), random.random())
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    g.manual_seed(1)
    restore_rng(tensors, py, npst, {"g": g})
    second = (torch.rand(3), torch.rand(2, generator=g), np.random.rand(2), random.random())
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert np.array_equal(first[2], second[2]) and first[3] == second[3]
