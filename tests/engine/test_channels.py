"""engine/channels.py: the one place where gray, RGB and alpha are converted for a plugin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.channels import ChannelPlan, channel_mode, is_replicated_gray, result_alpha
from engine.core.errors import ParameterError
from engine.core.types import Backend, Region, RunOptions
from engine.runner import run_restorer
from plugins.api import Manifest, ParamValues, Restorer, Task, TilingPolicy, TilingSpec


def test_modes_for_each_image_and_plugin_channel_count() -> None:
    assert channel_mode(3, (3,)) == "native" and channel_mode(1, (1, 3)) == "native"
    assert channel_mode(1, (3,)) == "gray_to_rgb"
    assert channel_mode(3, (1,)) == "per_channel"
    assert channel_mode(3, (1,), replicated=True) == "replicated_gray"
    with pytest.raises(ParameterError, match=r"images with 3 channels cannot be fed to a plugin accepting \(\)"):
        channel_mode(3, ())


def test_tensor_round_trips_of_every_mode() -> None:
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    per = ChannelPlan("per_channel", 3)
    assert per.to_network(x).shape == (6, 1, 2, 2) and per.items(2) == 6
    torch.testing.assert_close(per.from_network(per.to_network(x), 2), x)
    gray = x[:, :1]
    up = ChannelPlan("gray_to_rgb", 1)
    assert up.to_network(gray).shape == (2, 3, 2, 2) and up.net_channels == 3
    torch.testing.assert_close(up.from_network(torch.cat([gray, gray + 3, gray + 6], 1), 2), gray + 3)
    rep = ChannelPlan("replicated_gray", 3)
    same = gray.expand(2, 3, 2, 2)
    assert rep.to_network(same).shape == (2, 1, 2, 2) and rep.items(2) == 2
    torch.testing.assert_close(rep.from_network(rep.to_network(same), 2), same)


def test_replicated_gray_is_detected_on_the_whole_image() -> None:
    gray = np.random.default_rng(0).random((5, 7, 1), dtype=np.float32)
    rgb = np.repeat(gray, 3, axis=2)
    assert is_replicated_gray(rgb) and ChannelPlan.for_image(rgb, (1,)).mode == "replicated_gray"
    assert ChannelPlan.for_image(rgb, (1, 3)).mode == "native"  # a colour network is there: use it
    rgb[4, 6, 2] += 1e-3
    assert not is_replicated_gray(rgb) and ChannelPlan.for_image(rgb, (1,)).mode == "per_channel"


class _CountingGray(Restorer):
    def __init__(self, manifest: Manifest, network: torch.nn.Module) -> None:
        super().__init__(manifest, network)
        self.items = 0

    def forward(self, x: torch.Tensor, params: ParamValues) -> torch.Tensor:
        assert x.shape[1] == 1
        self.items += x.shape[0]
        return x + 0.5 * self.network(x)


def test_gray_stored_as_rgb_runs_once_and_stays_gray(tmp_path: Path) -> None:
    torch.manual_seed(3)
    manifest = Manifest(id="g", name="G", version="0", task=Task.DENOISE, menu="G", folder=tmp_path,
                        channels=(1,), tiling=TilingSpec(TilingPolicy.TILED, 1, 1, 0))  # fmt: skip
    restorer = _CountingGray(manifest, torch.nn.Conv2d(1, 1, 3, padding=1))
    gray = np.random.default_rng(1).random((20, 30, 1), dtype=np.float32)
    options = RunOptions(device="cpu", tile=0, backend=Backend.TORCH)
    single = run_restorer(restorer, gray, ParamValues({}), mask=None, options=options, progress=None, cancel=None).image
    restorer.items = 0
    out = run_restorer(restorer, np.repeat(gray, 3, axis=2), ParamValues({}), mask=None, options=options,
                       progress=None, cancel=None).image  # fmt: skip
    assert restorer.items == 1  # not 3: one gray forward for the whole (untiled) image
    assert out.shape == (20, 30, 3) and np.array_equal(out, np.repeat(out[:, :, :1], 3, axis=2))  # stays gray
    assert np.abs(out[:, :, :1] - single).max() < 1e-6  # memory layout: rounding only


def test_result_alpha_is_the_covered_area_at_the_result_size() -> None:
    alpha = np.zeros((10, 12), np.float32)
    alpha[2:6, 4:8] = 1.0
    assert result_alpha(None, Region(0, 0, 12, 10), 10, 12) is None
    same = result_alpha(alpha, Region(0, 0, 12, 10), 10, 12)
    assert same is not None and np.array_equal(same, alpha)
    up = result_alpha(alpha, Region(4, 2, 4, 4), 8, 8)  # the opaque square, upscaled x2
    assert up is not None and up.shape == (8, 8) and np.allclose(up, 1.0)
