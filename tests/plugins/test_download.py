"""Weights download against a real http.server on 127.0.0.1: progress, hash check, atomic rename."""

from __future__ import annotations

import hashlib
import os
import stat
import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from engine.core.errors import WeightsError
from plugins.api import WeightsFileSpec, WeightsStatus
from plugins.manifest import load_manifest
from plugins.registry import PluginRegistry
from plugins.weights import check_weights, download_weights, load_weights


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base url, served folder); shut down and joined after the test."""
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, name="test-http", daemon=False)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_download_verifies_and_reports_progress(server, tmp_path: Path) -> None:
    base, root = server
    payload = bytes(range(256)) * 2000  # 512000 bytes: several chunks
    (root / "w.safetensors").write_bytes(payload)
    spec = WeightsFileSpec("main", "w.safetensors", hashlib.sha256(payload).hexdigest(), f"{base}/w.safetensors")
    calls: list[tuple[int, int]] = []
    dest = tmp_path / "cache" / "tiny" / "w.safetensors"
    assert download_weights(spec, dest, lambda d, t: calls.append((d, t))) == dest
    assert dest.read_bytes() == payload
    assert calls[0] == (0, len(payload)) and calls[-1] == (len(payload), len(payload))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and len(calls) >= 3
    assert list(dest.parent.iterdir()) == [dest]  # no temp file left
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600


def test_mismatch_deletes_temp_and_keeps_old_file(server, tmp_path: Path) -> None:
    base, root = server
    (root / "w.safetensors").write_bytes(b"tampered")
    spec = WeightsFileSpec("main", "w.safetensors", "a" * 64, f"{base}/w.safetensors")
    dest = tmp_path / "d" / "w.safetensors"
    dest.parent.mkdir()
    dest.write_bytes(b"previous")
    with pytest.raises(WeightsError, match=r"has sha256 [0-9a-f]{12}\.\.\., expected aaaaaaaaaaaa\.\.\.; the file was discarded"):
        download_weights(spec, dest, plugin_id="tiny")
    assert dest.read_bytes() == b"previous"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["w.safetensors"]


def test_http_error_is_a_weights_error(server, tmp_path: Path) -> None:
    base, _ = server
    spec = WeightsFileSpec("main", "w.safetensors", "a" * 64, f"{base}/absent.safetensors")
    with pytest.raises(WeightsError, match="downloading .*absent.safetensors failed: HTTP Error 404"):
        download_weights(spec, tmp_path / "x" / "w.safetensors", plugin_id="tiny")
    assert list((tmp_path / "x").iterdir()) == []


def test_missing_plugin_weights_download_into_cache_then_load(server, plugin_dir: Path) -> None:
    from tests.plugin_factory import write_tiny_plugin

    base, root = server
    folder = write_tiny_plugin(plugin_dir, "netty")
    (folder / "weights.safetensors").replace(root / "weights.safetensors")
    path = folder / "plugin.toml"
    path.write_text(path.read_text().replace('file = "weights.safetensors"', f'file = "weights.safetensors"\nurl = "{base}/weights.safetensors"'))
    manifest = load_manifest(folder)
    status, reason = check_weights(manifest)
    assert status is WeightsStatus.MISSING and "clarity plugin fetch netty" in reason
    with pytest.raises(WeightsError):
        load_weights(manifest)  # no download unless asked
    registry = PluginRegistry(builtin_dir=plugin_dir, user_dirs=[], entry_points=False)
    restorer = registry.load("netty", download=True)
    assert restorer.manifest.id == "netty"
    assert registry.info("netty").status is WeightsStatus.OK
    assert not (folder / "weights.safetensors").exists()  # it went to the cache
    assert check_weights(manifest) == (WeightsStatus.OK, "")


def test_cli_fetch_downloads_missing_weights(server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from engine.cli.main import main
    from tests.plugin_factory import write_tiny_plugin

    base, root = server
    user = tmp_path / "user"
    folder = write_tiny_plugin(user, "fetchme")
    (folder / "weights.safetensors").replace(root / "w.safetensors")
    path = folder / "plugin.toml"
    path.write_text(path.read_text().replace('file = "weights.safetensors"', f'file = "weights.safetensors"\nurl = "{base}/w.safetensors"'))
    monkeypatch.setenv("CLARITY_PLUGIN_PATH", str(user))
    assert main(["plugin", "fetch", "fetchme"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "fetchme: weights ok\n"
    assert "downloading fetchme: 100.0%" in captured.err
    assert main(["plugin", "fetch", "fetchmee"]) == 2
    assert "unknown filter 'fetchmee' (did you mean 'fetchme'?)" in capsys.readouterr().err
