"""One spec per network (plugins/spec.py, plugins/nets/specs.py), read by the manifest, the runner and the trainer."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest
import torch

from engine.core.errors import ManifestError
from engine.training.config import ConfigError, TrainConfig
from plugins.api import TilingPolicy, TilingSpec
from plugins.manifest import load_manifest
from plugins.nets.loading import network_factory
from plugins.nets.specs import DNCNN_COLOR, DNCNN_GRAY, LEGACY_ARCHES, SPECS, WEATHER, spec_for
from plugins.spec import NetworkInput, NetworkSpec, combine

PLUGINS_DIR = Path(__file__).resolve().parents[2] / "plugins"


def _first_conv_in_channels(net: torch.nn.Module) -> int:
    conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    return conv.in_channels


@pytest.mark.parametrize("arch", sorted(SPECS))
def test_every_spec_matches_the_network_its_key_builds(arch: str) -> None:
    spec = SPECS[arch]
    net = network_factory(arch)()
    assert getattr(net, "size_multiple", 1) == spec.size_multiple
    assert tuple(getattr(net, "scales", spec.scales)) == spec.scales
    unshuffle = getattr(net, "unshuffle", 1)
    extra = 1 if spec.noise_map else 0
    assert _first_conv_in_channels(net) == (spec.channels_in + extra) * unshuffle**2
    assert getattr(net, "noise_map", False) == spec.noise_map
    radius = net.context()
    if spec.input is NetworkInput.UPSAMPLED:  # radius in HR pixels -> LR pixels at the smallest scale, + bicubic support
        radius = math.ceil(radius / min(spec.scales)) + 2
    assert radius <= spec.context <= max(radius, -(-radius // spec.size_multiple) * spec.size_multiple)


def test_old_factory_names_have_the_spec_of_their_new_name() -> None:
    assert LEGACY_ARCHES and all(spec_for(old) is WEATHER for old in LEGACY_ARCHES)
    assert spec_for("plugins.nets.weather:nope") is None


def test_combine_takes_union_of_channels_and_the_strictest_geometry() -> None:
    assert combine([DNCNN_GRAY, DNCNN_COLOR]).channels == (1, 3)
    assert combine([DNCNN_GRAY, DNCNN_COLOR]).tiling == TilingSpec(TilingPolicy.TILED, 20, 1, 0, 768)
    assert combine([DNCNN_GRAY, NetworkSpec(memory_per_pixel=100_000)]).tiling.memory_per_pixel == 100_000
    assert combine([DNCNN_GRAY, NetworkSpec()]).tiling.memory_per_pixel == 0  # one unknown: unknown
    a = NetworkSpec(size_multiple=4, context=8, fp16=True, bf16=True)
    b = NetworkSpec(size_multiple=6, context=3, tiling=TilingPolicy.MIN_TILE, min_tile=128, fp16=True)
    geometry = combine([a, b])
    assert geometry.tiling == TilingSpec(TilingPolicy.MIN_TILE, 8, 12, 128)
    assert (geometry.fp16, geometry.bf16, geometry.scales) == (True, False, (1,))
    with pytest.raises(ValueError, match=r"different scales \[2\] and \[4\]"):
        combine([NetworkSpec(scales=(2,)), NetworkSpec(scales=(4,))])
    with pytest.raises(ValueError, match="channels_in"):
        NetworkSpec(channels_in=2)
    with pytest.raises(ValueError, match="a network maps 1 channels to 3; a plugin's output has its input's channels"):
        combine([NetworkSpec(channels_in=1, channels_out=3)])


def test_builtin_manifests_take_their_geometry_from_the_specs() -> None:
    denoise = load_manifest(PLUGINS_DIR / "denoise")
    assert denoise.channels == (3,) and denoise.tiling == TilingSpec(TilingPolicy.TILED, 72, 8, 0, 672)
    assert (denoise.fp16, denoise.bf16) == (True, True)
    assert [w.network for w in denoise.weights] == ["plugins.denoise.model:denoise_gaussian", "plugins.denoise.model:denoise_camera"]
    dncnn = load_manifest(PLUGINS_DIR / "denoise_dncnn")
    assert dncnn.channels == (1, 3) and dncnn.tiling.context == 20
    assert load_manifest(PLUGINS_DIR / "upscale_rednet").scales == (2, 3, 4)


def _manifest_with(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "model.py").write_text("def build(manifest, weights):\n    raise NotImplementedError\n")
    (folder / "plugin.toml").write_text(
        'id = "p"\nname = "P"\nversion = "1"\ntask = "denoise"\nmenu = "P"\n' + textwrap.dedent(body)
    )
    return folder


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            'channels = [3]\n[[weights]]\nname = "main"\nfile = "w.safetensors"\nsha256 = ""\n'
            'network = "plugins.nets.weather:weather_net"\n',
            "channels",
            "is declared by the network spec of 'plugins.nets.weather:weather_net' (plugins/nets/specs.py); "
            "remove 'channels' from plugin.toml",
        ),
        (
            '[[weights]]\nname = "main"\nfile = "w.safetensors"\nsha256 = ""\nnetwork = "plugins.nets.weather:wether_net"\n',
            "weights[0].network",
            "'plugins.nets.weather:wether_net' is not a built-in network (did you mean 'plugins.nets.weather:weather_net'?)",
        ),
        (
            '[[weights]]\nname = "a"\nfile = "a.safetensors"\nsha256 = ""\nnetwork = "plugins.denoise_dncnn.model:dncnn_gray"\n'
            '[[weights]]\nname = "b"\nfile = "b.safetensors"\nsha256 = ""\n',
            "weights[1].network",
            "is missing; the other weights entries name their network, so 'b' must too",
        ),
        (
            '[[weights]]\nname = "a"\nfile = "a.safetensors"\nsha256 = ""\nnetwork = "plugins.upscale.model:upscale_net"\n'
            '[[weights]]\nname = "b"\nfile = "b.safetensors"\nsha256 = ""\nnetwork = "plugins.nets.weather:weather_net"\n',
            "weights",
            "the networks do not fit one plugin: its networks produce different scales [2, 3, 4] and [1]",
        ),
    ],
)
def test_manifest_network_errors_name_the_field(tmp_path: Path, body: str, field: str, message: str) -> None:
    with pytest.raises(ManifestError) as info:
        load_manifest(_manifest_with(tmp_path, body))
    assert info.value.field == field
    assert message in str(info.value)


def _config(arch: str, model_extra: str = "", gray: bool = False) -> str:
    return textwrap.dedent(f"""
        name = "c"
        [model]
        arch = "{arch}"
        {model_extra}
        [data]
        train = ["x"]
        gray = {str(gray).lower()}
    """)


def test_training_config_reads_the_spec_and_accepts_old_keys_that_agree() -> None:
    cfg = TrainConfig.from_toml_text(_config("plugins.denoise.model:denoise_camera"))
    assert cfg.model.spec is SPECS["plugins.denoise.model:denoise_camera"]
    old = 'input = "degraded"\nnoise_map = true\nsize_multiple = 8\nscale_arg = false'
    assert TrainConfig.from_toml_text(_config("plugins.denoise.model:denoise_camera", old)).model.spec.noise_map
    rednet = TrainConfig.from_toml_text(_config("plugins.upscale_rednet.model:rednet30", 'input = "upsampled"')).model.spec
    assert rednet.input is NetworkInput.UPSAMPLED and rednet.scales == (2, 3, 4)
    legacy = TrainConfig.from_toml_text(_config("plugins.derain.model:derain_net", "size_multiple = 16"))
    assert legacy.model.spec is WEATHER


@pytest.mark.parametrize(
    ("arch", "extra", "gray", "message"),
    [
        ("plugins.denoise.model:denoise_gaussian", "noise_map = false", False,
         "'model.noise_map' = false contradicts the spec of network 'plugins.denoise.model:denoise_gaussian' "
         "(noise_map = true, in plugins/nets/specs.py); remove the key"),
        ("plugins.nets.weather:weather_net", "size_multiple = 8", False,
         "'model.size_multiple' = 8 contradicts the spec of network 'plugins.nets.weather:weather_net' (size_multiple = 16"),
        ("plugins.upscale.model:upscale_net", 'input = "upsampled"', False,
         "'model.input' = \"upsampled\" contradicts the spec of network 'plugins.upscale.model:upscale_net' (input = \"degraded\""),
        ("plugins.denoise_dncnn.model:dncnn_gray", "", False,
         "'data.gray' must be true: network 'plugins.denoise_dncnn.model:dncnn_gray' takes 1-channel (gray) images"),
    ],
)  # fmt: skip
def test_training_config_keys_that_contradict_the_spec_are_refused(arch: str, extra: str, gray: bool, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_toml_text(_config(arch, extra, gray))
    assert message in str(info.value)


def test_a_network_without_spec_is_called_as_its_config_says() -> None:
    cfg = TrainConfig.from_toml_text(_config("mymodule:mynet", 'input = "upsampled"\nnoise_map = true\nsize_multiple = 4'))
    assert cfg.model.spec == NetworkSpec(input=NetworkInput.UPSAMPLED, noise_map=True, size_multiple=4)
    assert TrainConfig.from_toml_text(_config("mymodule:mynet")).model.spec == NetworkSpec()


def test_training_amp_must_be_a_precision_the_spec_allows(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import MappingProxyType

    import plugins.nets.specs as specs

    monkeypatch.setattr(specs, "SPECS", MappingProxyType({"m:fp32_only": NetworkSpec(), "m:fp16": NetworkSpec(fp16=True)}))
    bf16 = '[run]\namp = "bf16"\n'
    with pytest.raises(ConfigError, match=r"'run.amp' = \"bf16\": network 'm:fp32_only' does not run in bf16 .*use amp = \"none\""):
        TrainConfig.from_toml_text(_config("m:fp32_only") + bf16)
    with pytest.raises(ConfigError, match=r"use amp = \"fp16\""):
        TrainConfig.from_toml_text(_config("m:fp16") + bf16)
    assert TrainConfig.from_toml_text(_config("m:fp16") + bf16.replace("bf16", "fp16")).run.amp == "fp16"
    auto = TrainConfig.from_toml_text(_config("m:fp32_only"))  # the default: bf16 only where the spec allows it
    assert auto.run.amp == "auto"
