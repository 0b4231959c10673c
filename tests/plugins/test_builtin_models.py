"""Tests that run over every built-in model plugin (timm-style), with random weights.

No trained weights exist yet (they are trained on the GPU machine later), so every network
is built from the seeded random state dict of its own ``create_network`` factory and run
through the plugin's real ``build`` function. Checked for every plugin folder under
``plugins/`` that has a ``plugin.toml``:

- the manifest loads; each weights entry is either untrained (sha256 "", file absent, status
  "weights not trained yet") or present with the right hash;
- every weights entry names a network with a spec (``plugins/nets/specs.py``) and a factory;
- the built restorer is in eval mode (BatchNorm uses running statistics), outputs the declared
  scale and channel count for every declared scale and channel count, without NaNs;
- tile exactness: the receptive field measured by autograd is <= the declared context (and
  the context is not wildly larger), and a crop with ``context`` margin reproduces the
  whole-image output;
- fp16 weights size per file is within the plugin's limit.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from torch import nn

from engine.core.hashing import sha256_file
from plugins.api import AUTO, Manifest, ParamType, ParamValues, Restorer, WeightsBundle, WeightsStatus
from plugins.manifest import load_manifest
from plugins.nets.loading import network_factories
from plugins.nets.specs import spec_for
from plugins.nets.receptive import measured_context
from plugins.weights import NOT_TRAINED_REASON, check_weights

PLUGINS_DIR = Path(__file__).resolve().parents[2] / "plugins"
FOLDERS = sorted(p.parent.name for p in PLUGINS_DIR.glob("*/plugin.toml"))
EXPECTED = {"all_weather", "dehaze", "denoise", "denoise_dncnn", "derain", "desnow", "upscale", "upscale_rednet"}
FP16_LIMIT_MB = {"derain": 15, "dehaze": 15, "desnow": 15, "all_weather": 15}  # others: 10 MB per file
WEATHER = ("derain", "dehaze", "desnow", "all_weather")
HEAVY = {"all_weather", "upscale_rednet"}  # 400 px inputs / 30 layers at HR resolution
# The weather teachers share all-weather's network and tiling (checked below), so the costly
# receptive-field and crop tests run once for the four of them.
TILING_FOLDERS = [
    pytest.param(f, marks=pytest.mark.slow) if f in HEAVY else f
    for f in FOLDERS
    if f not in ("derain", "dehaze", "desnow")
]


def _module(folder: str) -> ModuleType:
    """The module of the plugin's entry: its ``model.py`` or a shared module (the weather plugins)."""
    module = _manifest(folder).entry.partition(":")[0]
    return importlib.import_module(module if "." in module else f"plugins.{folder}.{module}")


def _manifest(folder: str) -> Manifest:
    return load_manifest(PLUGINS_DIR / folder / "plugin.toml")


def _random_bundle(folder: str, seed: int = 0) -> WeightsBundle:
    state = {}
    for i, (name, factory) in enumerate(network_factories(_manifest(folder)).items()):
        torch.manual_seed(seed + i)
        net = factory()
        for m in net.modules():  # non-trivial BatchNorm statistics, so eval mode matters
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        state[name] = {k: v.detach().clone() for k, v in net.state_dict().items()}
    return WeightsBundle(state)


def _restorer(folder: str) -> Restorer:
    build = getattr(_module(folder), _manifest(folder).entry.partition(":")[2])
    return build(_manifest(folder), _random_bundle(folder))


def _params(manifest: Manifest, **changes: object) -> ParamValues:
    values = {p.name: (25.0 if p.default == AUTO else p.default) for p in manifest.parameters}
    values.update(changes)  # type: ignore[arg-type]
    return ParamValues(values)


def _scales(manifest: Manifest) -> list[int]:
    return list(manifest.scales)


def _variants(manifest: Manifest) -> list[dict[str, object]]:
    """Every parameter combination that selects a different network (scale, model choice).

    A choice ``"auto"`` is left out: ``analyse`` resolves it before ``forward`` ever sees it.
    """
    combos: list[dict[str, object]] = [{}]
    for p in manifest.parameters:
        if p.type is ParamType.CHOICE:
            combos = [dict(c, **{p.name: v}) for c in combos for v in p.choices if v != AUTO]
    return combos


def test_every_expected_plugin_is_present() -> None:
    assert EXPECTED <= set(FOLDERS), f"missing plugin folders: {EXPECTED - set(FOLDERS)}"


@pytest.mark.parametrize("folder", FOLDERS)
def test_manifest_and_weights_entries(folder: str) -> None:
    manifest = _manifest(folder)
    status, reason = check_weights(manifest)
    for spec in manifest.weights:
        path = manifest.folder / spec.file
        if spec.sha256 == "":
            assert not path.exists(), f"{path} exists but the manifest has no sha256"
        else:
            assert path.is_file() and sha256_file(path) == spec.sha256
    if any(spec.sha256 == "" for spec in manifest.weights):
        assert (status, reason) == (WeightsStatus.MISSING, NOT_TRAINED_REASON)
    else:
        assert status is WeightsStatus.OK
    assert all(w.network and spec_for(w.network) is not None for w in manifest.weights)
    assert set(network_factories(manifest)) == {w.name for w in manifest.weights}
    assert (PLUGINS_DIR / folder / "MODEL.md").is_file()


@pytest.mark.parametrize("folder", FOLDERS)
def test_forward_shapes_eval_mode_no_nans(folder: str) -> None:
    manifest = _manifest(folder)
    restorer = _restorer(folder)
    assert not any(m.training for m in restorer.network.modules())
    side = 2 * manifest.tiling.size_multiple if manifest.tiling.size_multiple > 1 else 12
    torch.manual_seed(1)
    for channels in manifest.channels:
        x = torch.rand(1, channels, side, side + manifest.tiling.size_multiple)
        for variant in _variants(manifest):
            params = _params(manifest, **variant)
            s = restorer.scale(params)
            with torch.inference_mode():
                y = restorer.forward(x, params)
            assert y.shape == (1, channels, x.shape[2] * s, x.shape[3] * s), (variant, y.shape)
            assert torch.isfinite(y).all()


@pytest.mark.parametrize("folder", FOLDERS)
def test_fp16_weights_size_within_limit(folder: str) -> None:
    limit = FP16_LIMIT_MB.get(folder, 10) * 1e6
    for name, factory in network_factories(_manifest(folder)).items():
        size = sum(p.numel() * 2 for p in factory().state_dict().values() if p.is_floating_point())
        assert size <= limit, f"{folder}/{name}: {size / 1e6:.1f} MB fp16 > {limit / 1e6:.0f} MB"


def _rf_params(folder: str, manifest: Manifest) -> list[ParamValues]:
    return [_params(manifest, **v) for v in _variants(manifest)]


@pytest.mark.parametrize("folder", TILING_FOLDERS)
def test_receptive_field_within_declared_context(folder: str) -> None:
    manifest = _manifest(folder)
    restorer = _restorer(folder)
    context = manifest.tiling.context
    m = manifest.tiling.size_multiple
    size = ((2 * context + 3 * m + 8) // m + 1) * m
    # Strided U-Nets: the receptive field depends on the pixel phase mod size_multiple; measured
    # over all phases (denoise 62..67, weather 158..171), input pixels at 2 mod m are a worst
    # case, so test the phases 0 and 2.
    offsets = [(phase - size // 2) % m for phase in (0, 2)] if m > 2 else range(m)
    channels = max(manifest.channels)
    worst = 0
    for params in _rf_params(folder, manifest):
        s = restorer.scale(params)
        radius = measured_context(lambda x: restorer.forward(x, params), channels, size, scale=s, offsets=offsets)
        assert radius <= context, f"{folder} {dict(params.values)}: receptive field {radius} > context {context}"
        worst = max(worst, radius)
    # the declared context is a tight bound, not a guess (RED-Net: ceil(30/s) + bicubic support;
    # strided nets round it up to size_multiple so the engine's overlap keeps tiles phase-aligned)
    assert context <= max(worst + 2, -(-worst // m) * m), f"{folder}: context {context} far above the measured {worst}"


@pytest.mark.parametrize("folder", TILING_FOLDERS)
def test_crop_with_context_margin_matches_whole_image(folder: str) -> None:
    """Tile exactness end to end: an aligned crop with ``context`` margin reproduces the centre."""
    manifest = _manifest(folder)
    restorer = _restorer(folder)
    ctx, m = manifest.tiling.context, manifest.tiling.size_multiple
    margin = -(-ctx // m) * m  # context rounded up to the size multiple (tiles start aligned)
    inner = 2 * m if m > 1 else 6
    side = 2 * margin + inner + 2 * m if m > 1 else 2 * margin + inner + 6
    side = -(-side // m) * m
    torch.manual_seed(2)
    x = torch.rand(1, 3 if 3 in manifest.channels else 1, side, side)
    params = _params(manifest, **_variants(manifest)[-1])
    s = restorer.scale(params)
    x0 = -(-((side - inner) // 2) // m) * m  # aligned start of the inner window
    crop = x[:, :, x0 - margin : x0 + inner + margin, x0 - margin : x0 + inner + margin]
    with torch.inference_mode():
        whole = restorer.forward(x, params)
        tile = restorer.forward(crop, params)
    a = whole[:, :, x0 * s : (x0 + inner) * s, x0 * s : (x0 + inner) * s]
    b = tile[:, :, margin * s : (margin + inner) * s, margin * s : (margin + inner) * s]
    torch.testing.assert_close(b, a, atol=2e-5, rtol=1e-4)


# --- model-specific behaviour ----------------------------------------------------------------


def test_dncnn_depths_residual_and_channel_dispatch() -> None:
    from plugins.denoise_dncnn.model import dncnn_color, dncnn_gray

    convs = lambda net: [m for m in net.modules() if isinstance(m, nn.Conv2d)]  # noqa: E731
    assert len(convs(dncnn_gray())) == 17 and len(convs(dncnn_color())) == 20
    assert all(c.out_channels == 64 for c in convs(dncnn_color())[:-1])
    assert sum(isinstance(m, nn.BatchNorm2d) for m in dncnn_color().modules()) == 18
    restorer = _restorer("denoise_dncnn")
    with torch.no_grad():  # zero noise prediction -> identity (residual learning: x - noise)
        convs(restorer.network["color"])[-1].weight.zero_()
        convs(restorer.network["color"])[-1].bias.zero_()
    x3, x1 = torch.rand(1, 3, 12, 12), torch.rand(1, 1, 12, 12)
    params = _params(_manifest("denoise_dncnn"))
    with torch.inference_mode():
        torch.testing.assert_close(restorer.forward(x3, params), x3)
        torch.testing.assert_close(restorer.forward(x1, params), restorer.network["gray"](x1))
        assert not torch.allclose(restorer.forward(x1, params), x1)


def test_rednet_structure_skips_and_bicubic_input() -> None:
    from plugins.upscale_rednet.model import REDNet, bicubic_upsample, rednet30

    net = rednet30()
    assert len(net.convs) == 15 and len(net.deconvs) == 15
    assert all(isinstance(d, nn.ConvTranspose2d) and d.stride == (1, 1) for d in net.deconvs)
    # a zero last deconv makes the network the identity on its (upsampled) input
    with torch.no_grad():
        net.deconvs[-1].weight.zero_()
        net.deconvs[-1].bias.zero_()
    x = torch.rand(1, 3, 10, 10)
    torch.testing.assert_close(net(x), x)
    # skips: conv 2, 4, ..., 14 feed deconv 13, 11, ..., 1 -> 7 skips; removing them changes the output
    torch.manual_seed(0)
    a = REDNet(layers=15)
    torch.manual_seed(0)
    b = REDNet(layers=15, skip_every=100)
    assert not torch.allclose(a(x), b(x))
    restorer = _restorer("upscale_rednet")
    with torch.no_grad():
        restorer.network.deconvs[-1].weight.zero_()
        restorer.network.deconvs[-1].bias.zero_()
    manifest = _manifest("upscale_rednet")
    for s in (2, 3, 4):
        with torch.inference_mode():
            torch.testing.assert_close(restorer.forward(x, _params(manifest, scale=s)), bicubic_upsample(x, s))


def test_upscale_uses_the_tail_of_the_chosen_scale() -> None:
    from plugins.upscale.model import weights_for_scale

    manifest = _manifest("upscale")
    restorer = _restorer("upscale")
    x = torch.rand(1, 3, 8, 8)
    for s in (2, 3, 4):
        net = restorer.network[weights_for_scale(restorer.network.keys(), s)]
        assert net.tails[str(s)].out_channels == 3 * s * s
        with torch.no_grad():  # a zero tail leaves exactly the bicubic skip
            saved = net.tails[str(s)].weight.clone()
            net.tails[str(s)].weight.zero_()
            net.tails[str(s)].bias.zero_()
            got = restorer.forward(x, _params(manifest, scale=s))
            net.tails[str(s)].weight.copy_(saved)
        bicubic = torch.nn.functional.interpolate(x, scale_factor=s, mode="bicubic", align_corners=False)
        torch.testing.assert_close(got, bicubic)
    with pytest.raises(ValueError):
        net(x, scale=5)


def test_upscale_serves_a_scale_from_its_specialist_weights_when_listed() -> None:
    from plugins.upscale.model import UpscaleRestorer, upscale_net, weights_for_scale

    assert weights_for_scale(["main"], 2) == "main"
    assert [weights_for_scale(["main", "x2"], s) for s in (2, 3, 4)] == ["x2", "main", "main"]
    manifest = _manifest("upscale")
    torch.manual_seed(0)
    main, x2 = upscale_net(blocks=1), upscale_net(blocks=1)
    restorer = UpscaleRestorer(manifest, nn.ModuleDict({"main": main, "x2": x2}))
    x = torch.rand(1, 3, 8, 8)
    with torch.inference_mode():
        for s, net in ((2, x2), (3, main), (4, main)):
            torch.testing.assert_close(restorer.forward(x, _params(manifest, scale=s)), net.eval()(x, scale=s))
        assert not torch.allclose(main(x, scale=2), x2(x, scale=2))


def test_weather_plugins_share_one_architecture_and_expose_features() -> None:
    shapes = None
    for folder in WEATHER:
        for name, factory in network_factories(_manifest(folder)).items():
            s = {k: tuple(v.shape) for k, v in factory().state_dict().items()}
            shapes = shapes or s
            assert s == shapes, f"{folder} ({name}) differs from the other weather networks"
        assert _manifest(folder).tiling == _manifest("all_weather").tiling
    net = network_factories(_manifest("all_weather"))["direct"]().eval()
    x = torch.rand(1, 3, 32, 48)
    with torch.inference_mode():
        out, feats = net.forward_features(x)
        torch.testing.assert_close(out, net(x))
    assert [f.shape[1] for f in feats] == [256, 128, 64, 32]
    assert [tuple(f.shape[2:]) for f in feats] == [(2, 3), (4, 6), (8, 12), (16, 24)]


def test_remove_weather_model_choice_runs_the_named_network() -> None:
    """all-weather loads both trainings (entries ``direct`` and ``distilled``); ``model`` picks one."""
    manifest = _manifest("all_weather")
    model = next(p for p in manifest.parameters if p.name == "model")
    assert set(model.choices) == {w.name for w in manifest.weights} == {"direct", "distilled"}
    restorer = _restorer("all_weather")
    restorer.network.eval()
    x = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        outputs = {name: restorer.forward(x, _params(manifest, model=name)) for name in model.choices}
        for name, out in outputs.items():
            torch.testing.assert_close(out, restorer.network[name](x))
    assert not torch.allclose(outputs["direct"], outputs["distilled"])  # different (random) weights per entry


# --- Denoise: noise-level map and automatic noise estimation ---------------------------------


def _textured(rng: np.random.Generator, h: int = 192, w: int = 256) -> np.ndarray:
    """A clean RGB image with edges, gradients and smooth texture, in [0, 255]."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = 120 + 60 * np.sin(xx / 17.0) * np.cos(yy / 23.0) + 40 * ((xx // 32 + yy // 32) % 2)
    img = np.stack([base, 0.8 * base + 30 * np.sin(yy / 9.0), 255 - base], axis=-1)
    return np.clip(img, 0, 255)


@pytest.mark.parametrize("sigma", [10.0, 25.0, 50.0])
def test_auto_noise_level_on_synthetic_awgn_within_10_percent(sigma: float) -> None:
    manifest = _manifest("denoise")
    restorer = _restorer("denoise")
    rng = np.random.default_rng(0)
    clean = _textured(rng)
    noisy = ((clean + rng.standard_normal(clean.shape) * sigma) / 255.0).astype(np.float32)
    params = restorer.analyse(noisy, ParamValues({"noise_level": AUTO, "model": "gaussian"}))
    assert params.float("noise_level") == pytest.approx(sigma, rel=0.10)
    gray = np.ascontiguousarray(noisy[..., :1])  # one channel of the same noisy image
    assert restorer.analyse(gray, ParamValues({"noise_level": AUTO, "model": "gaussian"})).float(
        "noise_level"
    ) == pytest.approx(sigma, rel=0.10)
    fixed = ParamValues({"noise_level": 7.0, "model": "gaussian"})
    assert restorer.analyse(noisy, fixed) is fixed
    assert manifest.parameter("noise_level").default == AUTO


def test_whole_patch_pca_estimate_on_a_real_photo_if_available() -> None:
    folder = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "val" / "cbsd68"
    files = sorted(folder.glob("*.png"))[:1]
    if not files:
        pytest.skip("shared validation images not available")
    from PIL import Image

    from plugins.denoise.noise_level import estimate_sigma

    for f in files:
        clean = np.asarray(Image.open(f).convert("RGB"), np.float64)
        for sigma in (5.0, 50.0):
            noisy = clean + np.random.default_rng(0).standard_normal(clean.shape) * sigma
            assert estimate_sigma(noisy / 255) * 255 == pytest.approx(sigma, rel=0.05)


def test_denoise_noise_level_and_model_choice_change_the_output() -> None:
    manifest = _manifest("denoise")
    restorer = _restorer("denoise")
    x = torch.rand(1, 3, 16, 16)
    with torch.inference_mode():
        # forward() gets resolved values: the default model "auto" is resolved by analyse() first
        a = restorer.forward(x, _params(manifest, noise_level=5.0, model="gaussian"))
        b = restorer.forward(x, _params(manifest, noise_level=50.0, model="gaussian"))
        c = restorer.forward(x, _params(manifest, noise_level=50.0, model="camera"))
        sigma = torch.full((1, 1, 1, 1), 50.0 / 255)
        torch.testing.assert_close(c, restorer.network["camera"](x, sigma))
    assert not torch.allclose(a, b) and not torch.allclose(b, c)
