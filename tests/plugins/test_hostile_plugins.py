"""Issue 19: a crafted plugin never takes the others down; downloads are bounded in size and time."""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.core.errors import ManifestError, PluginError, WeightsError
from plugins.api import WeightsFileSpec, WeightsStatus
from plugins.manifest import load_manifest
from plugins.registry import PluginRegistry
from plugins.weights import download_weights, json_too_deep, safetensors_problem
from tests.plugin_factory import sha256_of, write_tiny_plugin


def _set_sha(folder: Path) -> None:
    toml = folder / "plugin.toml"
    weights = folder / "weights.safetensors"
    toml.write_text(re.sub(r'sha256 = "[0-9a-f]*"', f'sha256 = "{sha256_of(weights)}"', toml.read_text()))


def _deep_json_plugin(parent: Path, plugin_id: str = "deep") -> Path:
    folder = write_tiny_plugin(parent, plugin_id)
    header = b"[" * 100_000 + b"]" * 100_000  # the crafted header of issue 19 item 2 (200 KB)
    (folder / "weights.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    _set_sha(folder)
    return folder


def test_deep_json_header_is_that_plugins_problem_only(tmp_path: Path) -> None:
    user = tmp_path / "user"
    _deep_json_plugin(user)
    write_tiny_plugin(user, "tiny")
    infos = {i.id: i for i in PluginRegistry(builtin_dir=tmp_path / "none", user_dirs=[user], entry_points=False).plugins()}
    assert infos["deep"].status is WeightsStatus.IMPORT_ERROR
    assert "nests deeper than 8 levels" in infos["deep"].reason
    assert infos["tiny"].status is WeightsStatus.OK


def test_json_depth_scan_skips_strings_and_stops_early() -> None:
    assert not json_too_deep(b'{"w": {"dtype": "F32", "shape": [3, 3], "data_offsets": [0, 36]}}')
    assert not json_too_deep(b'{"__metadata__": {"note": "[[[[[[[[[[[[ in a string {{{{{{{{"}}')
    assert json_too_deep(b"[" * 9 + b"]" * 9)
    start = time.perf_counter()
    assert json_too_deep(b"[" * 10_000_000)
    assert time.perf_counter() - start < 1.0


def test_any_inspection_failure_is_isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import plugins.registry as registry

    user = tmp_path / "user"
    write_tiny_plugin(user, "bad")
    write_tiny_plugin(user, "good")
    real = registry.check_weights

    def crash(manifest):  # noqa: ANN001, ANN202
        if manifest.id == "bad":
            raise RecursionError("maximum recursion depth exceeded")
        return real(manifest)

    monkeypatch.setattr(registry, "check_weights", crash)
    infos = {i.id: i for i in PluginRegistry(builtin_dir=tmp_path / "none", user_dirs=[user], entry_points=False).plugins()}
    assert infos["bad"].status is WeightsStatus.IMPORT_ERROR
    assert infos["bad"].reason == "checking its weights failed: RecursionError: maximum recursion depth exceeded"
    assert infos["good"].usable


@pytest.mark.parametrize("kind", ["fifo", "devzero"])
def test_non_regular_weights_file_is_refused_without_blocking(tmp_path: Path, kind: str) -> None:
    user = tmp_path / "user"
    folder = write_tiny_plugin(user, "odd")
    weights = folder / "weights.safetensors"
    weights.unlink()
    if kind == "fifo":
        os.mkfifo(weights)
    else:
        os.symlink("/dev/zero", weights)
    (info,) = PluginRegistry(builtin_dir=tmp_path / "none", user_dirs=[user], entry_points=False).plugins()
    what = "a named pipe (FIFO)" if kind == "fifo" else "a device"
    assert not info.usable
    if kind == "fifo":
        assert info.status is WeightsStatus.MISSING
        assert f"it is {what}, not a regular file" in info.reason
    else:  # a link out of the plugin folder is refused by the manifest check already
        assert "outside the plugin folder" in info.reason
    assert safetensors_problem(weights) == f"cannot read it (it is {what}, not a regular file; skipped)"


def test_fifo_manifest_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "plugin.toml")
    with pytest.raises(ManifestError, match=r"cannot read the manifest \(it is a named pipe \(FIFO\), not a regular file"):
        load_manifest(tmp_path / "plugin.toml")


def test_sys_exit_while_building_is_a_plugin_error(tmp_path: Path) -> None:
    user = tmp_path / "user"
    folder = write_tiny_plugin(user, "quitter")
    model = folder / "model.py"
    model.write_text(model.read_text().replace("def build(manifest: Manifest, weights: WeightsBundle) -> Restorer:\n",
                                               "def build(manifest: Manifest, weights: WeightsBundle) -> Restorer:\n"
                                               "    import sys; sys.exit(5)\n"))
    registry = PluginRegistry(builtin_dir=tmp_path / "none", user_dirs=[user], entry_points=False)
    with pytest.raises(PluginError, match=r"model:build raised SystemExit: 5"):
        registry.load("quitter")


# ------------------------------------------------------------------ downloads (a real local server)
class _Hostile(http.server.BaseHTTPRequestHandler):
    """/big: 1 MB without Content-Length; /short: claims 1000 bytes, sends 500; /trickle: 1 byte
    every 0.2 s; /negative: Content-Length -5; /loop: redirects to itself."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        try:
            if self.path == "/big":
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"\0" * (1 << 20))
            elif self.path == "/short":
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"\0" * 500)
            elif self.path == "/announce":
                self.send_response(200)
                self.send_header("Content-Length", str(1 << 30))
                self.end_headers()
            elif self.path == "/trickle":
                self.send_response(200)
                self.send_header("Content-Length", "100")
                self.end_headers()
                for _ in range(100):
                    self.wfile.write(b"\0")
                    self.wfile.flush()
                    time.sleep(0.2)
            elif self.path == "/negative":
                self.send_response(200)
                self.send_header("Content-Length", "-5")
                self.end_headers()
                self.wfile.write(b"abc")
            elif self.path == "/loop":
                self.send_response(302)
                self.send_header("Location", "/loop")
                self.send_header("Content-Length", "0")
                self.end_headers()
        except OSError:
            pass


@pytest.fixture
def hostile() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _spec(url: str, size: int | None = None, sha: str = "a" * 64) -> WeightsFileSpec:
    return WeightsFileSpec("main", "w.safetensors", sha, url, size=size)


def _no_files(folder: Path) -> bool:
    return not folder.exists() or list(folder.iterdir()) == []


def test_download_stops_at_the_expected_size(hostile: str, tmp_path: Path) -> None:
    got: list[int] = []
    with pytest.raises(WeightsError, match=r"sent more than the 4500 bytes expected for w.safetensors; the download was stopped"):
        download_weights(_spec(f"{hostile}/big", size=4500), tmp_path / "c" / "w.safetensors",
                         lambda done, total: got.append(done), plugin_id="p")
    assert max(got) <= 4500  # never more than the cap (+1 byte to notice the overrun) was fetched
    assert _no_files(tmp_path / "c")


def test_download_refuses_an_announced_size_over_the_cap(hostile: str, tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"announces 1073741824 bytes, more than the 4500 expected"):
        download_weights(_spec(f"{hostile}/announce", size=4500), tmp_path / "c" / "w.safetensors", plugin_id="p")
    assert _no_files(tmp_path / "c")


def test_download_has_a_total_deadline(hostile: str, tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(WeightsError, match=r"took longer than 1 s \(\d+ bytes received\); the server is too slow"):
        download_weights(_spec(f"{hostile}/trickle", size=100), tmp_path / "c" / "w.safetensors",
                         plugin_id="p", deadline=1.0)
    assert time.monotonic() - start < 5.0
    assert _no_files(tmp_path / "c")


def test_truncated_download_is_named_as_such(hostile: str, tmp_path: Path) -> None:
    with pytest.raises(WeightsError) as caught:
        download_weights(_spec(f"{hostile}/short"), tmp_path / "c" / "w.safetensors", plugin_id="p")
    message = str(caught.value)
    assert "different version" not in message
    assert re.search(r"cut off after 500 of 1000 bytes|failed: .*IncompleteRead", message), message
    assert "\n" not in message
    assert _no_files(tmp_path / "c")


def test_redirect_loop_is_one_line(hostile: str, tmp_path: Path) -> None:
    with pytest.raises(WeightsError) as caught:
        download_weights(_spec(f"{hostile}/loop"), tmp_path / "c" / "w.safetensors", plugin_id="p")
    assert "redirect" in str(caught.value) and "\n" not in str(caught.value)


def test_negative_content_length_is_unknown_size(hostile: str, tmp_path: Path, capsys, monkeypatch) -> None:
    calls: list[tuple[int, int]] = []
    payload = b"abc"
    with pytest.raises(WeightsError, match="has sha256"):
        download_weights(_spec(f"{hostile}/negative"), tmp_path / "c" / "w.safetensors",
                         lambda d, t: calls.append((d, t)), plugin_id="p")
    assert calls[0] == (0, 0) and all(t == 0 for _, t in calls)
    spec = _spec(f"{hostile}/negative", sha=hashlib.sha256(payload).hexdigest())
    dest = download_weights(spec, tmp_path / "c" / "w.safetensors", plugin_id="p")
    assert dest.read_bytes() == payload


def test_manifest_size_must_be_positive(tmp_path: Path) -> None:
    folder = write_tiny_plugin(tmp_path, "sized")
    toml = folder / "plugin.toml"
    text = toml.read_text()
    toml.write_text(text.replace('file = "weights.safetensors"', 'file = "weights.safetensors"\nsize = 1234'))
    assert load_manifest(toml).weights[0].size == 1234
    toml.write_text(text.replace('file = "weights.safetensors"', 'file = "weights.safetensors"\nsize = -3'))
    with pytest.raises(ManifestError, match=r"size'.*must be the file's size in bytes"):
        load_manifest(toml)


def test_control_characters_in_a_manifest_make_it_invalid_and_list_escapes_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli.main import main

    user = tmp_path / "user"
    folder = write_tiny_plugin(user, "evil")
    write_tiny_plugin(user, "tiny")
    toml = folder / "plugin.toml"
    toml.write_text(toml.read_text().replace('description = "Tiny conv test network."',
                                              'description = "a\\u001b]0;pwned\\u0007\\u001b[2J\\u202e"'))
    with pytest.raises(ManifestError, match=r"field 'description': contains control characters"):
        load_manifest(toml)
    monkeypatch.setenv("CLARITY_PLUGIN_PATH", str(user))
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u202e]", out)
    assert "a\\x1b]0;pwned\\x07\\x1b[2J\\u202e" in out and "tiny" in out


def test_multi_line_build_errors_are_one_line(tmp_path: Path) -> None:
    user = tmp_path / "user"
    folder = write_tiny_plugin(user, "strict")
    model = folder / "model.py"
    model.write_text(model.read_text().replace(
        "def build(manifest: Manifest, weights: WeightsBundle) -> Restorer:\n",
        "def build(manifest: Manifest, weights: WeightsBundle) -> Restorer:\n"
        "    raise RuntimeError('Error(s) in loading state_dict for TinyNet:\\n\\tMissing key(s): \"a\", \"b\".')\n"))
    registry = PluginRegistry(builtin_dir=tmp_path / "none", user_dirs=[user], entry_points=False)
    with pytest.raises(PluginError) as caught:
        registry.load("strict")
    assert str(caught.value) == ("plugin 'strict': model:build raised RuntimeError: Error(s) in loading state_dict for "
                                 "TinyNet: Missing key(s): \"a\", \"b\".")
