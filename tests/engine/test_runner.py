"""run_restorer: exactness of tiling (denoise, SR, size multiples), policies, masks, strength, channels."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.core.errors import ParameterError, PluginError
from engine.core.types import Region, RunOptions, format_resolved
from engine.runner import run_restorer
from plugins.api import (
    Manifest,
    ParamSpec,
    ParamType,
    ParamValues,
    Restorer,
    Task,
    TilingPolicy,
    TilingSpec,
    WeightsBundle,
)
from tests.plugin_factory import write_tiny_plugin

_counter = itertools.count()


def load_tiny(folder: Path, *, scale: int = 1, policy: str = "tiled", context: int = 3, size_multiple: int = 1,
              min_tile: int = 0, channels: tuple[int, ...] = (3,)) -> Restorer:
    """Build the plugin in ``folder`` directly (model.py + safetensors), with a hand-made manifest."""
    from safetensors.torch import load_file

    spec = importlib.util.spec_from_file_location(f"_tiny_model_{next(_counter)}", folder / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    params = () if scale > 1 else (ParamSpec("amount", ParamType.FLOAT, 1.0, minimum=0.0, maximum=2.0),)
    manifest = Manifest(
        id=folder.name, name=folder.name, version="0.1.0",
        task=Task.SUPER_RESOLUTION if scale > 1 else Task.DENOISE, menu=folder.name, folder=folder,
        parameters=params, scales=(scale,), channels=channels, fp16=True, bf16=True,
        tiling=TilingSpec(TilingPolicy(policy), context, size_multiple, min_tile),
    )  # fmt: skip
    return module.build(manifest, WeightsBundle({"main": load_file(str(folder / "weights.safetensors"))}))


def values(restorer: Restorer) -> ParamValues:
    return ParamValues({p.name: p.default for p in restorer.manifest.parameters})


def run(restorer: Restorer, image: np.ndarray, **kw: object) -> object:
    mask = kw.pop("mask", None)
    progress = kw.pop("progress", None)
    cancel = kw.pop("cancel", None)
    return run_restorer(restorer, image, values(restorer), mask=mask, options=RunOptions(device="cpu", **kw),
                        progress=progress, cancel=cancel)  # fmt: skip


def direct(restorer: Restorer, image: np.ndarray, multiple: int = 1) -> np.ndarray:
    """Reference: the network on the whole reflect-padded image, cropped, clipped."""
    h, w, _ = image.shape
    ph, pw = -h % multiple, -w % multiple
    padded = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect")
    with torch.inference_mode():
        y = restorer.forward(torch.from_numpy(padded).permute(2, 0, 1)[None].contiguous(), values(restorer))
    s = y.shape[-1] // padded.shape[1]
    return np.clip(y[0].permute(1, 2, 0).numpy()[: h * s, : w * s], 0, 1)


@pytest.fixture
def conv(plugin_dir: Path) -> Restorer:
    return load_tiny(write_tiny_plugin(plugin_dir, "conv"))


@pytest.mark.parametrize("tile", [4, 8, 13, 20, 36])
def test_tiled_equals_whole_for_conv_net(conv: Restorer, small_rgb: np.ndarray, tile: int) -> None:
    if tile < 8:  # tiles smaller than 2 * context: fine, but keep the count small
        small_rgb = small_rgb[:17, :22].copy()
    whole = run(conv, small_rgb, tile=0)
    assert whole.tiles == 1 and whole.tile == 0
    assert np.abs(whole.image - direct(conv, small_rgb)).max() < 1e-5
    tiled = run(conv, small_rgb, tile=tile)
    assert tiled.tiles > 1 and tiled.tile == tile
    assert tiled.image.shape == small_rgb.shape and tiled.image.dtype == np.float32
    assert np.abs(tiled.image - whole.image).max() < 1e-4
    # the network really changes the image, so the comparison is meaningful
    assert np.abs(whole.image - small_rgb).mean() > 0.01


def test_too_little_overlap_would_differ(conv: Restorer, small_rgb: np.ndarray) -> None:
    """Guard that the exactness test can fail: with context 0 declared, tiles disagree at seams."""
    conv.manifest = Manifest(**{**conv.manifest.__dict__, "tiling": TilingSpec(TilingPolicy.TILED, 0, 1, 0)})
    assert np.abs(run(conv, small_rgb, tile=12).image - run(conv, small_rgb, tile=0).image).max() > 1e-3


@pytest.mark.parametrize("multiple", [4, 8])
@pytest.mark.parametrize("tile", [8, 13])
def test_size_multiple_tiled_equals_whole(plugin_dir: Path, small_rgb: np.ndarray, multiple: int, tile: int) -> None:
    restorer = load_tiny(write_tiny_plugin(plugin_dir, "m"), size_multiple=multiple)
    seen: list[tuple[int, int]] = []
    forward = restorer.forward

    def spy(x: torch.Tensor, params: ParamValues) -> torch.Tensor:
        seen.append(tuple(x.shape[-2:]))
        return forward(x, params)

    restorer.forward = spy  # type: ignore[method-assign]
    whole = run(restorer, small_rgb, tile=0)
    assert seen == [(40, 56)]  # 37x53 padded up to a multiple of 4 and of 8 alike
    assert np.abs(whole.image - direct(restorer, small_rgb, multiple)).max() < 1e-5
    seen.clear()
    tiled = run(restorer, small_rgb, tile=tile)
    assert len(seen) == tiled.tiles and all(h % multiple == 0 and w % multiple == 0 for h, w in seen)
    assert np.abs(tiled.image - whole.image).max() < 1e-4


@pytest.mark.parametrize("scale", [2, 3])
@pytest.mark.parametrize("tile", [9, 16])
def test_super_resolution_tiled_equals_whole(plugin_dir: Path, small_rgb: np.ndarray, scale: int, tile: int) -> None:
    restorer = load_tiny(write_tiny_plugin(plugin_dir, f"sr{scale}", kind="sr", scale=scale, task="super-resolution"),
                         scale=scale, context=2)  # fmt: skip
    whole = run(restorer, small_rgb, tile=0)
    assert whole.image.shape == (37 * scale, 53 * scale, 3) and whole.scale == scale
    assert np.abs(whole.image - direct(restorer, small_rgb)).max() < 1e-5
    tiled = run(restorer, small_rgb, tile=tile)
    assert tiled.tiles > 1
    assert np.abs(tiled.image - whole.image).max() < 1e-4


def test_sr_with_size_multiple(plugin_dir: Path, small_rgb: np.ndarray) -> None:
    restorer = load_tiny(write_tiny_plugin(plugin_dir, "srm", kind="sr", scale=2), scale=2, context=2, size_multiple=8)
    whole = run(restorer, small_rgb, tile=0)
    assert np.abs(whole.image - direct(restorer, small_rgb, 8)).max() < 1e-5
    assert np.abs(run(restorer, small_rgb, tile=9).image - whole.image).max() < 1e-4


def test_instancenorm_plugin_without_min_tile_is_run_whole(plugin_dir: Path, small_rgb: np.ndarray) -> None:
    restorer = load_tiny(write_tiny_plugin(plugin_dir, "inorm", kind="instancenorm"), policy="min-tile")
    result = run(restorer, small_rgb, tile=8)
    assert result.tiles == 1 and result.tile == 0
    assert any("ignored" in w for w in result.warnings)
    assert np.abs(result.image - direct(restorer, small_rgb)).max() < 1e-5


def test_instancenorm_plugin_never_gets_tiles_below_min_tile(plugin_dir: Path, small_rgb: np.ndarray) -> None:
    restorer = load_tiny(write_tiny_plugin(plugin_dir, "inorm2", kind="instancenorm"), policy="min-tile", min_tile=24)
    result = run(restorer, small_rgb, tile=8)
    assert result.tile == 24 and result.tiles == 2 * 3
    assert any("differ slightly" in w for w in result.warnings)
    # the warning is honest: instance norm over a tile is not the whole-image result
    assert np.abs(result.image - direct(restorer, small_rgb)).max() > 1e-4
    assert run(restorer, small_rgb, tile=64).warnings == ()


def test_whole_policy_never_tiles(plugin_dir: Path, small_rgb: np.ndarray) -> None:
    restorer = load_tiny(write_tiny_plugin(plugin_dir, "whole"), policy="whole")
    result = run(restorer, small_rgb, tile=8)
    assert result.tiles == 1 and result.tile == 0 and result.warnings


def test_mask_keeps_outside_bit_identical_and_blends_inside(conv: Restorer, small_rgb: np.ndarray) -> None:
    full = run(conv, small_rgb, tile=12).image
    mask = np.zeros(small_rgb.shape[:2], np.float32)
    mask[5:12, 20:30] = 1.0
    mask[20:25, 40:45] = 0.25
    calls: list[int] = []
    result = run(conv, small_rgb, tile=12, mask=mask, strength=0.8, progress=lambda p: calls.append(p.done))
    assert result.tiles < 4 * 5 and len(calls) == result.tiles
    outside = mask == 0
    assert np.array_equal(result.image[outside], small_rgb[outside])
    w = (mask * 0.8)[..., None]
    expected = small_rgb * (1 - w) + full * w
    assert np.abs(result.image - expected)[~outside].max() < 1e-6
    # a region is the same as its binary mask
    region = Region(20, 5, 10, 7)
    a = run_restorer(conv, small_rgb, values(conv), mask=region.to_mask(53, 37), options=RunOptions(device="cpu", tile=12),
                     progress=None, cancel=None)  # fmt: skip
    inside = region.to_mask(53, 37) > 0
    assert np.array_equal(a.image[~inside], small_rgb[~inside])
    assert np.abs(a.image[inside] - full[inside]).max() < 1e-6


def test_empty_mask_computes_nothing(conv: Restorer, small_rgb: np.ndarray) -> None:
    result = run(conv, small_rgb, mask=np.zeros((37, 53), np.float32))
    assert result.tiles == 0 and np.array_equal(result.image, small_rgb)


def test_bad_mask_shape_is_a_parameter_error(conv: Restorer, small_rgb: np.ndarray) -> None:
    with pytest.raises(ParameterError, match="mask shape"):
        run(conv, small_rgb, mask=np.ones((10, 10), np.float32))


def test_strength_blends_with_original(conv: Restorer, small_rgb: np.ndarray) -> None:
    full = run(conv, small_rgb).image
    half = run(conv, small_rgb, strength=0.3).image
    assert np.abs(half - (0.7 * small_rgb + 0.3 * full)).max() < 1e-6
    assert np.array_equal(run(conv, small_rgb, strength=0.0).image, small_rgb)


def test_sr_strength_blends_with_bicubic(plugin_dir: Path, small_rgb: np.ndarray) -> None:
    import cv2

    restorer = load_tiny(write_tiny_plugin(plugin_dir, "sr", kind="sr", scale=2), scale=2, context=2)
    full = run(restorer, small_rgb).image
    bicubic = np.clip(cv2.resize(small_rgb, (106, 74), interpolation=cv2.INTER_CUBIC), 0, 1)
    half = run(restorer, small_rgb, strength=0.5).image
    assert np.abs(half - (0.5 * bicubic + 0.5 * full)).max() < 1e-6


def test_sr_with_mask_upscales_the_bounding_box(plugin_dir: Path, small_rgb: np.ndarray) -> None:
    import cv2

    restorer = load_tiny(write_tiny_plugin(plugin_dir, "sr", kind="sr", scale=2), scale=2, context=2)
    full = run(restorer, small_rgb, tile=12).image
    mask = np.zeros((37, 53), np.float32)
    mask[10:20, 5:30] = 1.0
    mask[12:15, 8:12] = 0.0  # a hole: bicubic there
    result = run(restorer, small_rgb, tile=12, mask=mask)
    assert result.image.shape == (20, 50, 3)
    assert result.area == Region(5, 10, 25, 10)  # the mask's bounding box, in input pixels
    assert run(restorer, small_rgb, tile=12).area == Region(0, 0, 53, 37)
    crop_sr = full[20:40, 10:60]
    bicubic = np.clip(cv2.resize(small_rgb[10:20, 5:30], (50, 20), interpolation=cv2.INTER_CUBIC), 0, 1)
    hole = np.zeros((20, 50), bool)
    hole[4:10, 6:14] = True
    assert np.abs(result.image[~hole] - crop_sr[~hole]).max() < 1e-5
    assert np.array_equal(result.image[hole], bicubic[hole])


def test_gray_image_on_colour_plugin_is_replicated_and_averaged(conv: Restorer, small_rgb: np.ndarray) -> None:
    gray = small_rgb[:, :, :1].copy()
    result = run(conv, gray, tile=16)
    assert result.image.shape == (37, 53, 1)
    rgb = run(conv, np.repeat(gray, 3, axis=2), tile=16).image
    assert np.abs(result.image[:, :, 0] - rgb.mean(axis=2)).max() < 1e-6


class GrayRestorer(Restorer):
    """A 1-channel conv net with seeded weights."""

    def forward(self, x: torch.Tensor, params: ParamValues) -> torch.Tensor:
        assert x.shape[1] == 1
        return x + 0.5 * self.network(x)


def gray_restorer(folder: Path) -> Restorer:
    torch.manual_seed(3)
    net = torch.nn.Conv2d(1, 1, 3, padding=1)
    manifest = Manifest(id="gray", name="Gray", version="0", task=Task.DENOISE, menu="Gray", folder=folder,
                        channels=(1,), tiling=TilingSpec(TilingPolicy.TILED, 1, 1, 0))  # fmt: skip
    return GrayRestorer(manifest, net)


def test_colour_image_on_gray_plugin_runs_each_channel(tmp_path: Path, small_rgb: np.ndarray) -> None:
    restorer = gray_restorer(tmp_path)
    result = run(restorer, small_rgb, tile=16)
    assert result.image.shape == (37, 53, 3)
    for c in range(3):
        single = run(restorer, small_rgb[:, :, c : c + 1].copy(), tile=16).image
        assert np.abs(result.image[:, :, c : c + 1] - single).max() < 1e-6  # batch of 3 vs 1: rounding only
    assert np.abs(result.image - small_rgb).max() > 0.01


def test_same_input_same_output(conv: Restorer, small_rgb: np.ndarray) -> None:
    assert np.array_equal(run(conv, small_rgb, tile=16).image, run(conv, small_rgb, tile=16).image)


class DropoutRestorer(Restorer):
    def forward(self, x: torch.Tensor, params: ParamValues) -> torch.Tensor:
        return self.network(x)


def test_network_is_put_in_eval_mode(tmp_path: Path, small_rgb: np.ndarray) -> None:
    manifest = Manifest(id="drop", name="Drop", version="0", task=Task.OTHER, menu="Drop", folder=tmp_path,
                        tiling=TilingSpec(TilingPolicy.TILED, 0, 1, 0))  # fmt: skip
    restorer = DropoutRestorer(manifest, torch.nn.Dropout(0.5))
    restorer.network.train()  # a careless plugin
    out = run(restorer, small_rgb).image
    assert np.array_equal(out, small_rgb) and not restorer.network.training


class AutoRestorer(Restorer):
    """Records what analyse() saw and resolves 'auto' from the whole image's mean."""

    seen: list[tuple[int, ...]] = []

    def analyse(self, image: np.ndarray, params: ParamValues) -> ParamValues:
        self.seen.append(image.shape)
        return params.replace(amount=float(image.mean()))

    def forward(self, x: torch.Tensor, params: ParamValues) -> torch.Tensor:
        return torch.zeros_like(x) + params.float("amount")


def test_analyse_runs_once_on_the_whole_image(tmp_path: Path, small_rgb: np.ndarray) -> None:
    manifest = Manifest(id="auto", name="Auto", version="0", task=Task.OTHER, menu="Auto", folder=tmp_path,
                        tiling=TilingSpec(TilingPolicy.TILED, 0, 1, 0))  # fmt: skip
    restorer = AutoRestorer(manifest, torch.nn.Identity())
    restorer.seen = []
    result = run_restorer(restorer, small_rgb, ParamValues({"amount": "auto"}), mask=None,
                          options=RunOptions(device="cpu", tile=16), progress=None, cancel=None)  # fmt: skip
    assert restorer.seen == [(37, 53, 3)] and result.tiles == 3 * 4
    assert np.allclose(result.image, small_rgb.mean(), atol=1e-6)
    assert dict(result.resolved) == {"amount": pytest.approx(float(small_rgb.mean()))}
    fixed = run_restorer(restorer, small_rgb, ParamValues({"amount": 0.25}), mask=None,
                         options=RunOptions(device="cpu", tile=16), progress=None, cancel=None)  # fmt: skip
    assert dict(fixed.resolved) == {"amount": pytest.approx(float(small_rgb.mean()))}  # analyse overrode it
    assert format_resolved({"amount": 0.25, "model": "camera", "n": 3}) == "amount=0.2, model=camera, n=3"


class _BrokenAnalyse(AutoRestorer):
    def analyse(self, image: np.ndarray, params: ParamValues) -> ParamValues:
        raise ZeroDivisionError("no noise here")


def test_analyse_failure_is_a_plugin_error_naming_the_plugin(tmp_path: Path, small_rgb: np.ndarray) -> None:
    manifest = Manifest(id="broken", name="Broken", version="0", task=Task.OTHER, menu="Broken", folder=tmp_path,
                        tiling=TilingSpec(TilingPolicy.TILED, 0, 1, 0))  # fmt: skip
    with pytest.raises(PluginError, match="broken.*analyse\\(\\) failed: ZeroDivisionError: no noise here"):
        run_restorer(_BrokenAnalyse(manifest, torch.nn.Identity()), small_rgb, ParamValues({"amount": "auto"}),
                     mask=None, options=RunOptions(device="cpu"), progress=None, cancel=None)  # fmt: skip


class _StridedRestorer(Restorer):
    """A strided network (2x2 average pooling, conv, nearest upsampling): its output depends on
    the pixel phase mod 2, like a U-Net, so tiles must start on the canvas's phase grid."""

    def forward(self, x: torch.Tensor, params: ParamValues) -> torch.Tensor:
        y = self.network(torch.nn.functional.avg_pool2d(x, 2))
        return x + torch.nn.functional.interpolate(y, scale_factor=2, mode="nearest")


@pytest.mark.parametrize("tile", [9, 13, 21])
def test_strided_network_tiles_keep_the_canvas_phase(plugin_dir: Path, small_rgb: np.ndarray, tile: int) -> None:
    torch.manual_seed(0)
    net = torch.nn.Conv2d(3, 3, 3, padding=1)
    manifest = Manifest(
        id="strided", name="strided", version="0.1.0", task=Task.DENOISE, menu="strided", folder=plugin_dir,
        tiling=TilingSpec(TilingPolicy.TILED, context=4, size_multiple=2),
    )  # fmt: skip
    restorer = _StridedRestorer(manifest, net)
    whole = run(restorer, small_rgb, tile=0)
    tiled = run(restorer, small_rgb, tile=tile)
    assert tiled.tiles > 1
    assert np.abs(tiled.image - whole.image).max() < 1e-5


def test_cpu_bf16_runs_on_pytorch_close_to_fp32(conv: Restorer, small_rgb: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """--precision bf16 on a CPU with native bf16: autocast on the PyTorch backend (auto never picks
    ONNX for it, an explicit ONNX is refused); the output is within bf16 rounding of fp32."""
    from engine.core.errors import DeviceError
    from engine.core.types import Backend, Precision

    monkeypatch.setattr("engine.device.cpu_has_native_bf16", lambda: True)
    ref = run(conv, small_rgb, precision=Precision.FP32)
    out = run(conv, small_rgb, precision=Precision.BF16, backend=Backend.AUTO)
    assert out.precision is Precision.BF16 and out.backend == "torch"
    diff = np.abs(out.image - ref.image)
    assert 0 < diff.max() < 2e-2 and diff.mean() < 2e-3  # bf16 rounding, not fp32's exact numbers
    with pytest.raises(DeviceError, match="ONNX backend runs in fp32 only"):
        run(conv, small_rgb, precision=Precision.BF16, backend=Backend.ONNX)
