"""Degradation synthesis: the parse grammar, statistics of each model, determinism, devices."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from engine.core.errors import ClarityError
from engine.core.imresize import imresize_np
from engine.training.degradations import DegradedBatch, parse_degradation
from engine.training.degradations.camera import CameraNoise
from engine.training.degradations.haze import add_haze
from engine.training.degradations.jpeg import jpeg, quality_tables
from engine.training.degradations.rain import Rain

ALL_SPECS = (
    "none", "awgn:25", "awgn:0-55", "camera", "camera:grain", "camera:mixed", "bicubic:2", "bicubic:2,3,4",
    "rain", "haze", "haze:veil", "haze:veil-to-clear", "snow", "snow:veil-to-clear", "mix:rain,haze,snow",
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _scene(n: int = 2, c: int = 3, h: int = 40, w: int = 48) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = torch.stack([xx, yy, (xx + yy) / 2])[:c]
    return (0.2 + 0.6 * base).expand(n, c, h, w).clone()


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_every_spec_shapes_determinism_and_clean_untouched(spec: str) -> None:
    clean = _scene()
    keep = clean.clone()
    deg = parse_degradation(spec)
    a = deg(clean, _gen(5))
    b = deg(clean, _gen(5))
    assert isinstance(a, DegradedBatch)
    assert torch.equal(clean, keep)
    assert torch.equal(a.degraded, b.degraded) and a.kind == b.kind
    assert len(a.kind) == 2 and a.degraded.dtype == clean.dtype
    if spec != "none":
        assert not torch.equal(a.degraded, deg(clean, _gen(6)).degraded) or spec.startswith("bicubic")
    if a.scale == 1:
        assert a.degraded.shape == clean.shape
    for c in (1, 3):
        gray = deg(_scene(c=c), _gen(1))
        assert gray.degraded.shape[1] == c


@pytest.mark.parametrize("spec", ["awgn", "awgn:x", "awgn:50-10", "bicubic", "bicubic:5", "foo", "mix:", "mix:bicubic:2", "rain:3"])
def test_bad_specs_raise_with_help(spec: str) -> None:
    with pytest.raises(ClarityError):
        parse_degradation(spec)


def test_awgn_fixed_sigma_statistics() -> None:
    clean = torch.full((4, 3, 64, 64), 0.5)
    batch = parse_degradation("awgn:25")(clean, _gen())
    noise = batch.degraded - clean
    assert float(noise.std()) == pytest.approx(25 / 255, rel=0.02)
    assert abs(float(noise.mean())) < 0.002
    assert batch.sigma is not None and torch.allclose(batch.sigma, torch.full((4,), 25 / 255))
    clean0 = torch.zeros(1, 1, 32, 32)
    assert float(parse_degradation("awgn:25")(clean0, _gen()).degraded.min()) < 0  # not clipped


def test_awgn_blind_sigma_per_image() -> None:
    clean = torch.full((16, 1, 48, 48), 0.5)
    batch = parse_degradation("awgn:0-55")(clean, _gen(2))
    assert batch.sigma is not None
    sig = batch.sigma * 255
    assert float(sig.min()) >= 0 and float(sig.max()) <= 55 and float(sig.std()) > 5
    measured = (batch.degraded - clean).flatten(1).std(dim=1)
    np.testing.assert_allclose(measured.numpy(), batch.sigma.numpy(), rtol=0.08, atol=0.002)


def test_bicubic_matches_numpy_imresize_rounded() -> None:
    clean = torch.rand(2, 3, 26, 25, generator=_gen(3))
    batch = parse_degradation("bicubic:3")(clean, _gen())
    assert batch.scale == 3 and batch.clean.shape == (2, 3, 24, 24)
    assert batch.degraded.shape == (2, 3, 8, 8) and batch.upsampled is not None and batch.upsampled.shape == (2, 3, 24, 24)
    ref = imresize_np(clean[0, :, :24, :24].double().permute(1, 2, 0).numpy(), 1 / 3)
    ref = np.round(np.clip(ref, 0, 1) * 255) / 255
    np.testing.assert_allclose(batch.degraded[0].permute(1, 2, 0).numpy(), ref, atol=1e-6)
    scales = {parse_degradation("bicubic:2,3,4")(clean, _gen(s)).scale for s in range(30)}
    assert scales == {2, 3, 4}


def test_haze_model_and_depth_direction() -> None:
    j = torch.zeros(1, 3, 4, 4)
    out = add_haze(j, torch.ones(1, 1, 4, 4), torch.tensor([1.0]), torch.tensor([[0.8, 0.9, 1.0]]))
    np.testing.assert_allclose(out[0, :, 0, 0].numpy(), np.array([0.8, 0.9, 1.0]) * (1 - math.exp(-1)), atol=1e-6)
    black = torch.zeros(8, 3, 64, 64)
    hazy = parse_degradation("haze")(black, _gen(4)).degraded
    top, bottom = float(hazy[:, :, :10].mean()), float(hazy[:, :, -10:].mean())
    assert top > bottom + 0.05  # farther (hazier) toward the top
    assert 0.0 <= float(hazy.min()) and float(hazy.max()) <= 1.0


def test_plain_haze_draws_what_it_always_drew() -> None:
    """The fixed-seed synthetic haze validation sets must not move when the veil option is added."""
    generator = _gen(4)
    clean = torch.rand(3, 3, 48, 64, generator=_gen(1))
    hazy = parse_degradation("haze")(clean, generator).degraded
    assert float(hazy.double().sum()) == pytest.approx(17470.383629, abs=1e-3)
    assert float(torch.rand(1, generator=generator)) == pytest.approx(0.7706708, abs=1e-6)  # same draws consumed


def _top_minus_bottom(hazy: torch.Tensor) -> torch.Tensor:
    return hazy[:, :, :20].mean(dim=(1, 2, 3)) - hazy[:, :, -20:].mean(dim=(1, 2, 3))


def test_haze_veil_is_near_uniform_and_half_of_a_batch() -> None:
    from engine.training.degradations.haze import Haze

    black = torch.zeros(16, 3, 96, 96)
    veiled = Haze(veil_probability=1.0)(black, _gen(5)).degraded  # black scene: I = A (1 - t)
    assert float(_top_minus_bottom(veiled).abs().max()) < 0.04  # no ramp
    level = veiled.mean(dim=(1, 2, 3))
    assert float(level.min()) > 0.7 * 0.05 - 0.03 and float(level.max()) < 0.5 + 0.03  # t0 in [0.5, 0.95]
    ramped = parse_degradation("haze")(black, _gen(5)).degraded
    mixed = parse_degradation("haze:veil")(black, _gen(5))
    assert mixed.kind == ("haze",) * 16  # a veil is still haze (the distillation's teacher key)
    flat = int((_top_minus_bottom(mixed.degraded).abs() < 0.04).sum())
    assert int((_top_minus_bottom(ramped).abs() < 0.04).sum()) <= 2 and 4 <= flat <= 12


def test_a_veil_of_transmission_one_is_no_haze() -> None:
    from engine.training.degradations.haze import Haze

    clean = torch.rand(4, 3, 32, 32, generator=_gen(2))
    out = Haze(veil_probability=1.0, veil_t_range=(1.0, 1.0))(clean, _gen(3)).degraded
    assert torch.equal(out, clean)


@pytest.mark.parametrize("kind", ["haze:veil", "snow"])
def test_veil_to_clear_reaches_clear_photos_with_the_same_draws(kind: str) -> None:
    """``KIND:veil-to-clear`` only widens the veil's transmission to 1: same draws, some images near clear."""
    black = torch.zeros(32, 3, 64, 64)  # black scene: the veil's level is A (1 - t)
    levels = {}
    for spec in (kind, kind.split(":")[0] + ":veil-to-clear"):
        generator = _gen(5)
        degraded = parse_degradation(spec)(black, generator).degraded
        levels[spec] = float(degraded.flatten(1).median(dim=1).values.min())
        levels[spec + " next draw"] = float(torch.rand(1, generator=generator))
    wide = kind.split(":")[0] + ":veil-to-clear"
    assert levels[kind + " next draw"] == levels[wide + " next draw"]
    assert levels[kind] > 0.04 and levels[wide] < 0.03  # t <= 0.95 leaves >= 0.05 A; t near 1 almost none


def test_rain_streaks_are_bright_and_elongated_vertically() -> None:
    black = torch.zeros(4, 1, 96, 96)
    rainy = parse_degradation("rain")(black, _gen(7)).degraded
    veil = rainy.flatten(1).median(dim=1).values.view(4, 1, 1, 1)
    streaks = rainy - veil
    assert float((streaks > 0.05).float().mean()) > 0.01
    dy = (streaks[..., 1:, :] - streaks[..., :-1, :]).pow(2).mean()
    dx = (streaks[..., :, 1:] - streaks[..., :, :-1]).pow(2).mean()
    assert float(dy) < 0.5 * float(dx)  # smooth along the falling direction


def test_rain_veils_only_some_images_and_keeps_the_rest_of_the_image() -> None:
    grey = torch.full((64, 3, 48, 48), 0.3)
    rainy = Rain(veil_probability=0.25)(grey, _gen(11)).degraded
    background = rainy.flatten(1).min(dim=1).values  # streaks only brighten: the darkest pixel is the background
    veiled = background > 0.3 + 1e-4
    assert 6 <= int(veiled.sum()) <= 26  # about a quarter of 64 (binomial, +-2.5 sd)
    assert float((background[~veiled] - 0.3).abs().max()) < 1e-6
    assert float(background[veiled].max()) <= 0.3 + 0.1 * (1.0 - 0.3) + 1e-6  # t >= 0.9, A <= 1
    never = Rain(veil_probability=0.0)(grey, _gen(11)).degraded.flatten(1).min(dim=1).values
    assert torch.all((never - 0.3).abs() < 1e-6)


def test_snow_adds_veil_and_flakes() -> None:
    black = torch.zeros(4, 3, 96, 96)
    snowy = parse_degradation("snow")(black, _gen(8)).degraded
    assert float(snowy.mean()) > 0.04  # haze veil + flakes brighten a black scene
    assert float(snowy.max()) > 0.5  # opaque flakes exist
    assert float(snowy.flatten(1).median(dim=1).values.max()) < 0.35  # but it is not all white


def test_camera_noise_is_channel_and_spatially_correlated() -> None:
    clean = torch.full((2, 3, 64, 64), 0.5)
    batch = CameraNoise(jpeg_probability=0.0)(clean, _gen(9))
    noise = (batch.degraded - clean).double()
    r, g = noise[:, 0].flatten(), noise[:, 1].flatten()
    assert float(torch.corrcoef(torch.stack([r, g]))[0, 1]) > 0.2
    a, b = noise[..., :, :-1].flatten(), noise[..., :, 1:].flatten()
    assert float(torch.corrcoef(torch.stack([a, b]))[0, 1]) > 0.2
    assert batch.sigma is not None
    np.testing.assert_allclose(batch.sigma.double().numpy(), noise.flatten(1).std(dim=1).numpy(), rtol=1e-4)
    # white AWGN, for contrast, is uncorrelated between neighbours
    white = parse_degradation("awgn:25")(clean, _gen()).degraded - clean
    c = torch.corrcoef(torch.stack([white[..., :, :-1].flatten(), white[..., :, 1:].flatten()]))[0, 1]
    assert abs(float(c)) < 0.05


def test_jpeg_tables_and_quality() -> None:
    t50 = quality_tables(torch.tensor([50.0]), (16,) * 64)
    assert float(t50[0, 0, 0]) == 16.0
    t90 = quality_tables(torch.tensor([90.0]), (16,) * 64)
    assert float(t90[0, 0, 0]) == 3.0  # floor((16 * 20 + 50) / 100)


def test_jpeg_close_to_libjpeg_gray(rng: np.random.Generator) -> None:
    yy, xx = np.mgrid[0:48, 0:64]
    img = np.clip(128 + 60 * np.sin(xx / 5.0) * np.cos(yy / 7.0) + rng.normal(0, 6, xx.shape), 0, 255).astype(np.uint8)
    for q in (30, 75):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=q)
        ref = np.asarray(Image.open(buf)).astype(np.float64)
        ours = jpeg(torch.from_numpy(img).float().div(255)[None, None], torch.tensor([float(q)]))[0, 0].numpy() * 255
        mse_ours_ref = np.mean((ours - ref) ** 2)
        mse_ref_clean = np.mean((ref - img) ** 2)
        assert mse_ours_ref < 0.1 * mse_ref_clean  # the same compression, up to rounding details
        np.testing.assert_allclose(ours, np.round(ours), atol=1e-3)  # 8-bit output


def test_jpeg_color_quality_monotone() -> None:
    x = torch.rand(1, 3, 32, 32, generator=_gen(1))
    x = torch.nn.functional.avg_pool2d(x, 3, 1, 1)
    errs = [float((jpeg(x, torch.tensor([float(q)])) - x).pow(2).mean()) for q in (10, 50, 95)]
    assert errs[0] > errs[1] > errs[2]


def test_mix_labels_and_members() -> None:
    clean = _scene(n=12)
    batch = parse_degradation("mix:rain,haze,snow")(clean, _gen(11))
    assert set(batch.kind) <= {"rain", "haze", "snow"} and len(set(batch.kind)) >= 2
    noise_mix = parse_degradation("mix:awgn:10,awgn:30")(clean, _gen(0))
    assert noise_mix.sigma is not None and set(np.round(noise_mix.sigma.numpy() * 255).tolist()) <= {10.0, 30.0}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("spec", ALL_SPECS)
def test_runs_on_cuda_with_cuda_generator(spec: str) -> None:
    clean = _scene().cuda()
    gen = torch.Generator(device="cuda").manual_seed(0)
    batch = parse_degradation(spec)(clean, gen)
    assert batch.degraded.device.type == "cuda"


def test_clarity_synth_writes_labelled_sheet(tmp_path, rng: np.random.Generator, capsys) -> None:  # type: ignore[no-untyped-def]
    from engine.cli.main import main

    folder = tmp_path / "imgs"
    folder.mkdir()
    for k in range(2):
        Image.fromarray(rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)).save(folder / f"p{k}.png")
    out = tmp_path / "sheet.png"
    assert main(["synth", "--task", "sr", "--images", str(folder), "--n", "3", "--variants", "2", "--size", "32", "--out", str(out)]) == 0
    sheet = np.asarray(Image.open(out))
    # 3 rows x 3 cells of 32 px plus 14 px labels and 4 px gaps
    assert sheet.shape == (4 + 3 * (32 + 14 + 4), 4 + 3 * (32 + 4), 3)
    assert "bicubic:2,3,4" in capsys.readouterr().out
    first = np.asarray(Image.open(folder / "p0.png"))[9:41, 14:46]
    np.testing.assert_array_equal(sheet[4 + 14 : 4 + 14 + 32, 4 : 4 + 32], first)  # the clean centre crop
    assert main(["synth", "--task", "rain", "--images", str(tmp_path / "none"), "--out", str(out)]) == 2


def _lag_corr(noise: torch.Tensor, lag: int) -> torch.Tensor:
    """``(N,)`` normalised autocorrelation at ``lag`` px of each image's noise ``(N, 1, H, W)``, measured as
    scripts/noise_grain_table.py measures photos: in 16-px blocks, each minus its plane fit, horizontal
    and vertical averaged."""
    n, _, h, w = noise.shape
    blocks = noise.double()[:, 0].reshape(n, h // 16, 16, w // 16, 16).permute(0, 1, 3, 2, 4).reshape(n, -1, 256)
    yy, xx = torch.meshgrid(torch.arange(16.0) - 7.5, torch.arange(16.0) - 7.5, indexing="ij")
    basis, _ = torch.linalg.qr(torch.stack([torch.ones(256), yy.flatten(), xx.flatten()], dim=1).double())
    x = (blocks - (blocks @ basis) @ basis.T).reshape(n, -1, 16, 16)
    var = x.pow(2).mean(dim=(1, 2, 3))
    hor = (x[..., :, :-lag] * x[..., :, lag:]).mean(dim=(1, 2, 3))
    ver = (x[..., :-lag, :] * x[..., lag:, :]).mean(dim=(1, 2, 3))
    return (hor + ver) / (2 * var)


def _luma(x: torch.Tensor) -> torch.Tensor:
    return x if x.shape[1] == 1 else 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


@pytest.mark.parametrize("channels", [1, 3])
def test_camera_grain_scale_raises_neighbour_correlation(channels: int) -> None:
    clean = torch.full((4, channels, 96, 96), 0.5)
    r1, r2 = [], []
    for grain in (0.0, 1.0, 2.0):
        model = CameraNoise(
            jpeg_probability=0.0,
            shot_range=(0.012, 0.012),
            grain_probability=1.0 if grain else 0.0,
            grain_range=(grain, grain) if grain else (0.5, 2.0),
        )
        noise = _luma(model(clean, _gen(3)).degraded - clean)
        r1.append(float(_lag_corr(noise, 1).mean()))
        r2.append(float(_lag_corr(noise, 2).mean()))
    # fine grain (demosaic / small blur only), then Gaussian grain of 1 and 2 px: coarser each time
    expected = {1: ([0.278, 0.792, 0.888], [0.019, 0.388, 0.647]), 3: ([0.568, 0.799, 0.898], [0.008, 0.386, 0.668])}[channels]
    np.testing.assert_allclose(r1, expected[0], atol=0.02)
    np.testing.assert_allclose(r2, expected[1], atol=0.02)
    assert r1 == sorted(r1) and r2 == sorted(r2)


def test_camera_grain_is_deterministic_and_mixed() -> None:
    clean = _scene(n=8, c=3, h=32, w=32)
    model = CameraNoise()
    a, b = model(clean, _gen(11)), model(clean, _gen(11))
    assert torch.equal(a.degraded, b.degraded) and torch.equal(a.sigma, b.sigma)
    assert not torch.equal(a.degraded, model(clean, _gen(12)).degraded)
    grain = model._grain(1000, _gen(4), torch.device("cpu"))
    assert grain is not None
    assert abs(float((grain > 0).float().mean()) - 0.5) < 0.05  # half the images get coarse grain
    assert 0.5 <= float(grain[grain > 0].min()) and float(grain.max()) <= 2.0
    assert CameraNoise(grain_probability=0.0)._grain(4, _gen(4), torch.device("cpu")) is None


# Lag-1 / lag-2 correlation of the noise of the real photos in ../shared/data/real-noisy (all six are
# gray), measured on their flat 16-px patches by scripts/noise_grain_table.py (plugins/denoise/MODEL.md).
REAL_R1 = (0.30, 0.74)  # Vinegar, Chupa_Chups
REAL_R2 = (-0.05, 0.40)  # Vinegar, Chupa_Chups


def test_camera_default_mixture_covers_the_real_photos_grain() -> None:
    clean = torch.full((64, 1, 64, 64), 0.5)
    noise = CameraNoise()(clean, _gen(21)).degraded - clean
    r1, r2 = _lag_corr(noise, 1), _lag_corr(noise, 2)
    assert float(r1.min()) < REAL_R1[0] and float(r1.max()) > REAL_R1[1]
    assert float(r2.min()) < REAL_R2[0] + 0.05 and float(r2.max()) > REAL_R2[1]
    # and the real photos' range is not a corner: a fair share of draws falls inside it
    inside = (r1 >= REAL_R1[0]) & (r1 <= REAL_R1[1])
    assert float(inside.float().mean()) > 0.15


def test_camera_gray_share_is_gray_scans_stored_as_rgb() -> None:
    """gray_probability: those images' target is their luma in all channels and their noise is the same in every channel."""
    clean = _scene(n=16, c=3, h=32, w=32)
    clean[:, 0] = clean[:, 0] * 0.5  # colour content, so a gray target differs from the input
    batch = CameraNoise(gray_probability=0.5)(clean, _gen(3))
    channels_equal = (batch.degraded.amax(dim=1) - batch.degraded.amin(dim=1)).flatten(1).amax(dim=1) == 0
    target_gray = (batch.clean.amax(dim=1) - batch.clean.amin(dim=1)).flatten(1).amax(dim=1) == 0
    assert torch.equal(channels_equal, target_gray) and 4 <= int(target_gray.sum()) <= 12
    luma = 0.299 * clean[:, 0] + 0.587 * clean[:, 1] + 0.114 * clean[:, 2]
    torch.testing.assert_close(batch.clean[target_gray, 1], luma[target_gray])
    assert torch.equal(batch.clean[~target_gray], clean[~target_gray])  # the colour images keep their target
    noise = (batch.degraded - batch.clean)[target_gray, 0]
    measured = noise.flatten(1).std(dim=1)
    torch.testing.assert_close(measured, batch.sigma[target_gray], atol=0.01, rtol=0.25)  # sigma: the gray noise's own level
    assert all(k == "camera" for k in batch.kind)
    every = CameraNoise(gray_probability=1.0)(clean, _gen(3))
    assert bool(((every.degraded.amax(dim=1) - every.degraded.amin(dim=1)) == 0).all())


def test_camera_gray_share_off_draws_nothing() -> None:
    """gray_probability = 0 (the default) reproduces the synthesis from before the parameter bit for bit."""
    clean = _scene(n=4, c=3, h=32, w=32)
    a = CameraNoise()(clean, _gen(8))
    b = CameraNoise()._synthesise(clean, _gen(8))
    assert torch.equal(a.degraded, b.degraded) and a.clean is clean


def test_camera_spec_keeps_the_published_fine_grain_synthesis_and_grain_opts_in() -> None:
    assert parse_degradation("camera") == CameraNoise(grain_probability=0.0)
    assert parse_degradation("camera:grain") == CameraNoise(name="camera:grain")
    assert parse_degradation("camera:mixed") == CameraNoise(gray_probability=0.25, name="camera:mixed")
    assert CameraNoise().grain_probability > 0.0


@pytest.mark.parametrize(
    "spec",
    ["none", "awgn:25", "awgn:0-75", "awgn:2.5-5", "camera", "camera:grain", "camera:mixed", "bicubic:4",
     "bicubic:2,3,4", "rain", "haze", "haze:veil", "haze:veil-to-clear", "snow", "snow:veil-to-clear",
     "mix:rain,rain,haze:veil-to-clear,snow:veil-to-clear"],
)
def test_degradation_name_is_the_spec_that_builds_it(spec: str) -> None:
    deg = parse_degradation(spec)
    assert deg.name == spec
    assert parse_degradation(deg.name) == deg  # frozen dataclasses: the same settings
