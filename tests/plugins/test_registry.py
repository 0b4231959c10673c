"""Discovery (built-in, user folders, entry points), priority, isolation of bad plugins, lazy loading."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.core.errors import PluginError, WeightsError
from plugins.api import PluginSource, Restorer, WeightsStatus
from plugins.registry import PluginRegistry, UnknownPluginError, user_plugin_dirs
from tests.plugin_factory import write_tiny_plugin

REPO = Path(__file__).resolve().parents[2]


def _registry(builtin: Path, *users: Path, entry_points: bool = False) -> PluginRegistry:
    return PluginRegistry(builtin_dir=builtin, user_dirs=list(users), entry_points=entry_points)


def test_discovers_and_sorts_by_task_then_name(tmp_path: Path) -> None:
    builtin, user = tmp_path / "b", tmp_path / "u"
    write_tiny_plugin(builtin, "zeta", name="Zeta")
    write_tiny_plugin(builtin, "alpha-sr", kind="sr", task="super-resolution", scale=2, name="Alpha SR")
    write_tiny_plugin(user, "beta", name="Beta")
    write_tiny_plugin(user, "rain", task="derain", name="Aaa Rain")
    infos = _registry(builtin, user).plugins()
    assert [i.id for i in infos] == ["beta", "zeta", "alpha-sr", "rain"]
    assert [i.source for i in infos] == [PluginSource.USER, PluginSource.BUILTIN, PluginSource.BUILTIN, PluginSource.USER]
    assert all(i.usable and i.status is WeightsStatus.OK for i in infos)
    assert infos[0].location == user / "beta"


def test_bad_plugin_is_isolated_with_reason(tmp_path: Path) -> None:
    write_tiny_plugin(tmp_path, "good")
    bad = write_tiny_plugin(tmp_path, "bad")
    (bad / "plugin.toml").write_text((bad / "plugin.toml").read_text().replace('task = "denoise"', 'task = "sharpen"'))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "plugin.toml").write_text("id = [unclosed\n")
    infos = {i.id: i for i in _registry(tmp_path).plugins()}
    assert infos["good"].usable
    assert infos["bad"].manifest is None and infos["bad"].status is WeightsStatus.INVALID_MANIFEST
    assert infos["bad"].reason.startswith(f"{bad / 'plugin.toml'}: field 'task': unknown task 'sharpen'")
    assert infos["broken"].status is WeightsStatus.INVALID_MANIFEST and "TOML syntax error" in infos["broken"].reason


def test_duplicate_id_first_source_wins(tmp_path: Path) -> None:
    builtin, user = tmp_path / "b", tmp_path / "u"
    write_tiny_plugin(builtin, "same", name="Built In")
    write_tiny_plugin(user / "x", "same", name="User Copy")
    (user / "same").mkdir(parents=True)
    (user / "x" / "same").rename(user / "same2")
    registry = _registry(builtin, user)
    winner = registry.info("same")
    assert winner.source is PluginSource.BUILTIN and winner.manifest.name == "Built In"
    losers = [i for i in registry.plugins() if i.location == user / "same2"]
    assert len(losers) == 1 and losers[0].status is WeightsStatus.INVALID_MANIFEST
    assert f"duplicate id 'same': already provided by {builtin / 'same'} (built-in)" in losers[0].reason


def test_hash_mismatch_marks_only_that_plugin(tmp_path: Path) -> None:
    write_tiny_plugin(tmp_path, "fine")
    write_tiny_plugin(tmp_path, "tampered", sha256="f" * 64)
    registry = _registry(tmp_path)
    assert registry.info("tampered").status is WeightsStatus.HASH_MISMATCH
    with pytest.raises(WeightsError, match="plugin 'tampered': .*does not match expected ffffffffffff"):
        registry.load("tampered")
    assert isinstance(registry.load("fine"), Restorer)


def test_unknown_id_lists_available_and_close_matches(tmp_path: Path) -> None:
    write_tiny_plugin(tmp_path, "denoise")
    write_tiny_plugin(tmp_path, "derain", task="derain")
    with pytest.raises(UnknownPluginError) as exc:
        _registry(tmp_path).info("denoize")
    assert str(exc.value) == "unknown filter 'denoize' (did you mean 'denoise'?); available: denoise, derain"
    assert isinstance(exc.value, PluginError) and exc.value.plugin_id == "denoize"


def test_load_runs_network_in_eval_mode_and_caches(tmp_path: Path) -> None:
    import torch

    from plugins.api import ParamValues

    write_tiny_plugin(tmp_path, "tiny")
    registry = _registry(tmp_path)
    restorer = registry.load("tiny")
    assert restorer is registry.load("tiny")
    assert not restorer.network.training
    assert type(restorer).__module__ == "clarity_plugin_tiny.model"
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        y0 = restorer.forward(x, ParamValues({"amount": 0.0}))
        y1 = restorer.forward(x, ParamValues({"amount": 1.0}))
    assert torch.equal(y0, x) and y1.shape == x.shape and not torch.allclose(y1, x)
    registry.refresh()
    assert registry.load("tiny") is not restorer


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("raise RuntimeError('boom')\n", "importing model.py failed: RuntimeError: boom"),
        ("def other(m, w):\n    return None\n", "model.py has no function 'build'"),
        ("def build(m, w):\n    return 42\n", "returned int, not a plugins.api.Restorer subclass"),
        ("def build(m, w):\n    raise ValueError('bad weights')\n", "model:build raised ValueError: bad weights"),
    ],
)
def test_broken_code_is_a_plugin_error_cached_until_refresh(tmp_path: Path, source: str, message: str) -> None:
    folder = write_tiny_plugin(tmp_path, "broken")
    write_tiny_plugin(tmp_path, "ok")
    good_source = (folder / "model.py").read_text()
    (folder / "model.py").write_text(source)
    registry = _registry(tmp_path)
    with pytest.raises(PluginError) as exc:
        registry.load("broken")
    assert str(exc.value) == f"plugin 'broken': {exc.value.reason}" and message in exc.value.reason
    assert registry.info("broken").status is WeightsStatus.IMPORT_ERROR
    assert message in registry.info("broken").reason
    (folder / "model.py").write_text(good_source)
    with pytest.raises(PluginError):  # still cached as broken
        registry.load("broken")
    assert isinstance(registry.load("ok"), Restorer)
    registry.refresh()
    assert registry.info("broken").status is WeightsStatus.OK
    assert isinstance(registry.load("broken"), Restorer)


def test_relative_imports_inside_a_plugin(tmp_path: Path) -> None:
    folder = write_tiny_plugin(tmp_path, "split")
    source = (folder / "model.py").read_text()
    (folder / "net.py").write_text(source)
    (folder / "model.py").write_text("from .net import build\n")
    assert type(_registry(tmp_path).load("split")).__name__ == "TinyRestorer"


def test_user_plugin_dirs_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLARITY_PLUGIN_PATH", os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))
    assert user_plugin_dirs() == [tmp_path / "a", tmp_path / "b"]
    assert PluginRegistry(entry_points=False).user_plugin_dir() == tmp_path / "a"
    monkeypatch.delenv("CLARITY_PLUGIN_PATH")
    assert user_plugin_dirs()[0].name == "plugins" and "clarity-studio" in str(user_plugin_dirs()[0])


def _fake_distribution(site: Path, package: str, entry_name: str) -> Path:
    """A real installed-looking distribution: package folder with plugin.toml + .dist-info/entry_points.txt."""
    pkg = site / package
    write_tiny_plugin(site, package.replace("_", "-"), name="Third Party")
    (site / package.replace("_", "-")).rename(pkg)
    (pkg / "__init__.py").write_text("raise RuntimeError('listing must not import the package')\n")
    info = site / f"{package}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[clarity.plugins]\n{entry_name} = {package}\n")
    return pkg


def test_entry_point_plugin_discovered_and_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    pkg = _fake_distribution(site, "thirdparty_denoise", "thirdparty")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    registry = PluginRegistry(builtin_dir=tmp_path / "none", user_dirs=[], entry_points=True)
    info = registry.info("thirdparty-denoise")
    assert info.source is PluginSource.ENTRY_POINT and info.location == pkg and info.usable
    assert "thirdparty_denoise" not in sys.modules
    restorer = registry.load("thirdparty-denoise")
    assert type(restorer).__module__ == "clarity_plugin_thirdparty_denoise.model"


def test_entry_point_to_missing_module_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    info = site / "ghost-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ghost\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[clarity.plugins]\nghost = ghost_pkg_not_installed\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    infos = [i for i in PluginRegistry(builtin_dir=tmp_path / "none", user_dirs=[]).plugins() if "ghost" in i.reason]
    assert len(infos) == 1 and infos[0].status is WeightsStatus.INVALID_MANIFEST
    assert "module 'ghost_pkg_not_installed' is not installed" in infos[0].reason


def test_listing_imports_no_torch_and_no_plugin_code(tmp_path: Path) -> None:
    user = tmp_path / "user"
    write_tiny_plugin(user, "one")
    site = tmp_path / "site"
    site.mkdir()
    _fake_distribution(site, "thirdparty_denoise", "thirdparty")
    code = textwrap.dedent(
        """
        import sys
        from engine.api import list_plugins
        ids = sorted(i.id for i in list_plugins())
        assert "one" in ids and "thirdparty-denoise" in ids, ids
        assert "torch" not in sys.modules, "torch imported by listing"
        assert not [m for m in sys.modules if m.startswith("clarity_plugin_") or m.startswith("thirdparty")]
        print("ok", len(ids))
        """
    )
    env = dict(os.environ, CLARITY_PLUGIN_PATH=str(user), PYTHONPATH=os.pathsep.join([str(REPO), str(site)]))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")


def test_listing_is_not_blocked_by_a_slow_load(tmp_path: Path) -> None:
    import threading
    import time

    folder = write_tiny_plugin(tmp_path, "slowbuild")
    started = tmp_path / "started"
    source = (folder / "model.py").read_text()
    (folder / "model.py").write_text(
        source.replace(
            "def build(manifest: Manifest, weights: WeightsBundle) -> Restorer:\n",
            "def build(manifest: Manifest, weights: WeightsBundle) -> Restorer:\n"
            f"    open({str(started)!r}, 'w').close()\n    time.sleep(1.5)\n",
        )
    )
    registry = _registry(tmp_path)
    registry.plugins()
    results: list[object] = []
    worker = threading.Thread(target=lambda: results.append(registry.load("slowbuild")))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert started.exists()
        t0 = time.monotonic()
        assert [i.id for i in registry.plugins()] == ["slowbuild"]
        assert time.monotonic() - t0 < 0.5  # not waiting for the 1.5 s build
    finally:
        worker.join(timeout=30)
    assert isinstance(results[0], Restorer) and registry.load("slowbuild") is results[0]


def test_entry_may_name_an_importable_module(tmp_path: Path) -> None:
    """``entry = "package.module:function"`` loads a module shared by several plugins (issue 17)."""
    folder = write_tiny_plugin(tmp_path / "user", "shared")
    (tmp_path / "empty").mkdir()
    manifest = folder / "plugin.toml"
    manifest.write_text(manifest.read_text().replace('entry = "model:build"', 'entry = "plugins.no_such_module:build"'))
    registry = _registry(tmp_path / "empty", tmp_path / "user")
    with pytest.raises(PluginError, match=r"plugin 'shared': importing module 'plugins.no_such_module' failed: ModuleNotFoundError"):
        registry.load("shared")
    manifest.write_text(manifest.read_text().replace("plugins.no_such_module:build", "plugins.nets.weather:no_such_function"))
    registry = _registry(tmp_path / "empty", tmp_path / "user")
    with pytest.raises(PluginError, match=r"module 'plugins.nets.weather' has no function 'no_such_function'"):
        registry.load("shared")
