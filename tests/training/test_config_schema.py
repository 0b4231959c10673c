"""Training configs are validated by the pydantic schema their dataclasses declare: one line naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.training.config import ConfigError, TrainConfig

RECIPES = sorted((Path(__file__).resolve().parents[2] / "engine" / "training" / "recipes").glob("*.toml"))
BASE = """
name = "c"
[model]
arch = "plugins.upscale.model:upscale_net"
args = { blocks = 4 }
[data]
train = ["x"]
[optim]
lr = 1
betas = [0.9, 0.99]
[run]
steps = 10
"""


def test_every_recipe_and_the_compat_fixture_validate() -> None:
    fixture = Path(__file__).parent / "fixtures" / "compat_v1" / "config.toml"
    for path in [*RECIPES, fixture]:
        cfg = TrainConfig.from_toml(path)
        assert cfg.model.spec is not None and cfg.run.steps >= 1, path


def test_types_are_coerced_like_toml_means_them() -> None:
    cfg = TrainConfig.from_toml_text(BASE.replace('train = ["x"]', 'train = "x"\ndegradation = "bicubic:2"'))
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)  # an integer is a valid float
    assert cfg.optim.betas == (0.9, 0.99) and cfg.data.train == ("x",) and cfg.data.degradation == ("bicubic:2",)
    assert cfg.model.args == {"blocks": 4}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("lr = 1", "lr = 1\nlearnig_rate = 2",
         "cfg.toml: unknown key 'optim.learnig_rate'; allowed here: betas, charbonnier_eps, ema_decay"),
        ('name = "c"', 'nme = "d"\nname = "c"',
         "cfg.toml: unknown key 'nme' (did you mean 'name'?); allowed here: data, distill, export, model, name"),
        ("steps = 10", "stesp = 10", "cfg.toml: unknown key 'run.stesp' (did you mean 'run.steps'?)"),
        ("steps = 10", 'steps = "10"', "cfg.toml: 'run.steps' = '10' must be an integer"),
        ("steps = 10", "steps = true", "cfg.toml: 'run.steps' = True must be an integer"),
        ("lr = 1", "lr = true", "cfg.toml: 'optim.lr' = True must be a number"),
        ("lr = 1", 'lr = 1\nloss = "l3"', "cfg.toml: 'optim.loss' = 'l3' is not one of 'l1', 'l2', 'charbonnier'"),
        ("betas = [0.9, 0.99]", "betas = [0.9]", "cfg.toml: 'optim.betas' has too few items"),
        ("args = { blocks = 4 }", "args = { blocks = [4] }", "cfg.toml: 'model.args.blocks' = [4] must be a number, boolean or string"),
        ('train = ["x"]', "patch = 16", "cfg.toml: missing required key 'data.train'"),
        ('train = ["x"]', 'train = ["x"]\ngray = "no"', "cfg.toml: 'data.gray' = 'no' must be true or false"),
        ("[run]", "run = 3\n[val]", "cfg.toml: unknown key 'optim.run'"),
        ("steps = 10", "steps = 0",
         "cfg.toml: config 'c': 'run' steps, checkpoint_every and log_every must be >= 1"),
        ('train = ["x"]', 'train = ["x"]\nrescale = [1.0, 1.5]',
         "cfg.toml: config 'c': 'data.rescale' needs scales in (0, 1]"),
        ("args = { blocks = 4 }", "scale_arg = false",
         "cfg.toml: config 'c': 'model.scale_arg' = false contradicts the spec of network 'plugins.upscale.model:upscale_net'"),
    ],
)  # fmt: skip
def test_errors_name_the_file_and_the_key(old: str, new: str, message: str) -> None:
    assert old in BASE
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_toml_text(BASE.replace(old, new, 1), source="cfg.toml")
    text = str(info.value)
    assert text.startswith(message), text
    assert "\n" not in text and "pydantic" not in text


def test_a_table_that_is_not_a_table(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BASE.replace('name = "c"', 'name = "c"\noptim = 3').replace("[optim]\nlr = 1\nbetas = [0.9, 0.99]\n", ""))
    with pytest.raises(ConfigError, match=rf"^{path}: 'optim' = 3 must be a table"):
        TrainConfig.from_toml(path)


def test_any_toml_value_in_any_key_gives_config_error_or_config() -> None:
    """Property: whatever value a key holds, from_dict returns a config or raises ConfigError naming the source."""
    import tomllib

    from hypothesis import given, settings
    from hypothesis import strategies as st

    base = tomllib.loads(BASE + '[val]\nfolders = ["v"]\n[distill]\nteachers = { rain = "r.safetensors" }\n')
    scalars = st.one_of(st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True), st.text(max_size=6))
    values = st.recursive(
        scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=2)),
        max_leaves=5,
    )  # fmt: skip
    keys = st.sampled_from(
        ["name", "seed", "model", "model.arch", "model.args", "model.input", "model.noise_map", "model.size_multiple",
         "data", "data.train", "data.gray", "data.patch", "optim.lr", "optim.betas", "optim.milestones", "optim.loss",
         "run.steps", "run.minutes", "val.every", "val.degradation", "distill", "distill.teachers",
         "distill.stage2_step", "distill.feature_layers", "export.fp16"]
    )  # fmt: skip

    @settings(max_examples=80, deadline=None, database=None)
    @given(key=keys, value=values)
    def check(key: str, value: object) -> None:
        data = tomllib.loads(BASE + '[val]\nfolders = ["v"]\n[distill]\nteachers = { rain = "r.safetensors" }\n')
        table, _, leaf = key.partition(".")
        if leaf:
            data.setdefault(table, {})[leaf] = value
        else:
            data[table] = value
        try:
            TrainConfig.from_dict(data, source="cfg.toml")
        except ConfigError as exc:
            assert str(exc).startswith("cfg.toml: ") and "\n" not in str(exc)

    assert TrainConfig.from_dict(base, source="cfg.toml").distill is not None
    check()
