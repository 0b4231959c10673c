"""Geometric self-ensemble (engine.ensemble) and its use by run_restorer (RunOptions.ensemble)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.cancel import CancelToken
from engine.core.errors import CancelledError, ParameterError, PluginError
from engine.core.types import RunOptions
from engine.ensemble import Symmetry, ensemble_forward, symmetries
from plugins.api import Restorer
from tests.engine.test_runner import load_tiny, run, values
from tests.plugin_factory import write_tiny_plugin


def test_symmetries_are_distinct_and_invertible_on_non_square_tensors() -> None:
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    for passes, count in ((1, 1), (2, 2), (4, 4), (8, 8)):
        chosen = symmetries(passes)
        assert len(chosen) == count and chosen[0] == Symmetry(0, False)
        images = {tuple(s.apply(x)[0, 0].flatten().tolist()) + (s.apply(x).shape[-1],) for s in chosen}
        assert len(images) == count  # every pass sees a different arrangement
        for s in chosen:
            assert torch.equal(s.undo(s.apply(x)), x)
    assert all(s.quarter_turns % 2 == 0 for s in symmetries(4))  # 4 passes keep the tile's shape
    with pytest.raises(ValueError, match="1, 2, 4, 8 passes, not 3"):
        symmetries(3)


def test_ensemble_of_an_equivariant_network_is_that_network() -> None:
    """A 2x nearest upscale commutes with flips and rotations: the mean of 8 passes is one pass."""
    x = torch.rand(1, 3, 5, 7)
    up = lambda t: t.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)  # noqa: E731
    assert torch.allclose(ensemble_forward(up, x, 8), up(x), atol=1e-6)


@pytest.mark.parametrize("passes", [2, 4, 8])
def test_ensemble_averages_out_a_direction_dependent_error(passes: int) -> None:
    """``forward`` adds a left-to-right ramp 0..1; mirrored and rotated passes put it the other way
    round, so their mean adds exactly 0.5 everywhere (one pass keeps the ramp)."""

    def ramp(t: torch.Tensor) -> torch.Tensor:
        return t + torch.linspace(0.0, 1.0, t.shape[-1])

    x = torch.rand(2, 3, 6, 10)
    out = ensemble_forward(ramp, x, passes)
    assert torch.allclose(out, x + 0.5, atol=1e-6)
    assert not torch.allclose(ensemble_forward(ramp, x, 1), x + 0.5, atol=0.1)


def test_ensemble_does_not_let_a_pass_modify_the_input() -> None:
    x = torch.rand(1, 3, 4, 4)
    before = x.clone()
    out = ensemble_forward(lambda t: t, x, 8)  # returns its (transformed) input itself
    assert torch.equal(x, before) and torch.allclose(out, before)


def test_between_runs_before_every_later_pass() -> None:
    calls: list[str] = []

    def forward(t: torch.Tensor) -> torch.Tensor:
        calls.append("forward")
        return t

    ensemble_forward(forward, torch.rand(1, 1, 4, 4), 4, between=lambda: calls.append("between"))
    assert calls == ["forward", "between", "forward", "between", "forward", "between", "forward"]


def test_run_options_accept_only_known_pass_counts() -> None:
    from engine.cli.options import ENSEMBLE_CHOICES
    from engine.core.types import ENSEMBLE_PASSES

    assert ENSEMBLE_CHOICES == tuple(map(str, ENSEMBLE_PASSES))  # what --ensemble offers is what a run accepts
    assert RunOptions(ensemble=8).ensemble == 8
    with pytest.raises(ParameterError, match="one of 1, 2, 4, 8, not 3"):
        RunOptions(ensemble=3)


@pytest.fixture
def conv(plugin_dir: Path) -> Restorer:
    return load_tiny(write_tiny_plugin(plugin_dir, "conv"))


def reference(restorer: Restorer, image: np.ndarray, passes: int) -> np.ndarray:
    """Mean of the whole-image network output over the symmetries, then clipped (no tiling, no padding)."""
    x = torch.from_numpy(image).permute(2, 0, 1)[None].contiguous()
    with torch.inference_mode():
        outs = [s.undo(restorer.forward(s.apply(x), values(restorer))) for s in symmetries(passes)]
    return np.clip(torch.stack(outs).mean(0)[0].permute(1, 2, 0).numpy(), 0, 1)


@pytest.mark.parametrize("tile", [0, 12])
def test_runner_self_ensemble_is_the_mean_over_symmetries_tiled_or_whole(
    conv: Restorer, small_rgb: np.ndarray, tile: int
) -> None:
    plain = run(conv, small_rgb, tile=tile)
    ensembled = run(conv, small_rgb, tile=tile, ensemble=8)
    assert ensembled.tiles == plain.tiles
    assert np.abs(ensembled.image - reference(conv, small_rgb, 8)).max() < 1e-4
    # the tiny conv net is not symmetric, so the ensemble really changes the output
    assert np.abs(ensembled.image - plain.image).max() > 5e-3


def test_runner_self_ensemble_for_super_resolution(plugin_dir: Path, small_rgb: np.ndarray) -> None:
    sr = load_tiny(write_tiny_plugin(plugin_dir, "sr2", kind="sr", scale=2, task="super-resolution"), scale=2, context=2)
    whole = run(sr, small_rgb, tile=0, ensemble=8)
    tiled = run(sr, small_rgb, tile=16, ensemble=8)
    assert whole.image.shape == (74, 106, 3) and tiled.tiles > 1
    assert np.abs(tiled.image - whole.image).max() < 1e-4
    assert np.abs(whole.image - reference(sr, small_rgb, 8)).max() < 1e-4


def test_cancel_is_checked_between_passes(conv: Restorer, small_rgb: np.ndarray) -> None:
    """One whole-image tile, 8 passes: a cancel during the first pass stops before the second."""
    token, calls = CancelToken(), []
    forward = conv.forward

    def cancelling(x: torch.Tensor, params: object) -> torch.Tensor:
        calls.append(tuple(x.shape))
        token.cancel()
        return forward(x, params)  # type: ignore[arg-type]

    conv.forward = cancelling  # type: ignore[method-assign]
    with pytest.raises(CancelledError):
        run(conv, small_rgb, tile=0, ensemble=8, cancel=token)
    assert len(calls) == 1


def test_a_network_that_rejects_rotated_tiles_fails_as_a_plugin_error(conv: Restorer, small_rgb: np.ndarray) -> None:
    forward = conv.forward

    def landscape_only(x: torch.Tensor, params: object) -> torch.Tensor:
        if x.shape[-2] > x.shape[-1]:
            raise RuntimeError("portrait tiles are not supported")
        return forward(x, params)  # type: ignore[arg-type]

    conv.forward = landscape_only  # type: ignore[method-assign]
    assert run(conv, small_rgb, tile=0, ensemble=4).image.shape == small_rgb.shape  # 4 passes keep the shape
    with pytest.raises(PluginError, match="portrait tiles are not supported"):
        run(conv, small_rgb, tile=0, ensemble=8)


def test_passes_are_capped_to_what_the_plugin_allows(conv: Restorer, small_rgb: np.ndarray) -> None:
    """A plugin whose degradation is directional (rain) allows 4 passes: asking for 8 runs 4, with a warning."""
    from dataclasses import replace

    conv.manifest = replace(conv.manifest, ensemble=4)
    capped = run(conv, small_rgb, tile=0, ensemble=8)
    assert np.abs(capped.image - reference(conv, small_rgb, 4)).max() < 1e-4
    assert capped.warnings == ("plugin 'conv' allows at most 4 self-ensemble passes (its training data does not "
                               "look the same turned or flipped); ran 4",)
    assert run(conv, small_rgb, tile=0, ensemble=2).warnings == ()


def test_builtin_weather_networks_allow_no_quarter_turns() -> None:
    from plugins.manifest import load_manifest

    root = Path(__file__).resolve().parents[2] / "plugins"
    allowed = {name: load_manifest(root / name / "plugin.toml").ensemble
               for name in ("derain", "dehaze", "desnow", "all_weather", "denoise", "upscale", "denoise_dncnn")}
    assert allowed == {"derain": 4, "dehaze": 4, "desnow": 4, "all_weather": 4, "denoise": 8, "upscale": 8,
                       "denoise_dncnn": 8}


def test_passes_keep_the_input_memory_format() -> None:
    seen: list[bool] = []

    def forward(t: torch.Tensor) -> torch.Tensor:
        seen.append(t.is_contiguous(memory_format=torch.channels_last))
        return t

    x = torch.rand(1, 3, 8, 16).contiguous(memory_format=torch.channels_last)
    ensemble_forward(forward, x, 8)
    assert seen == [True] * 8
