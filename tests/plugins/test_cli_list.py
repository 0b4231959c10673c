"""`clarity list`: table and JSON with stable keys; no torch import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.main import main
from tests.plugin_factory import write_tiny_plugin

REPO = Path(__file__).resolve().parents[2]
KEYS = {
    "id", "name", "version", "task", "menu", "description", "license", "source", "location", "status",
    "reason", "usable", "scales", "channels", "fp16", "bf16", "tiling", "parameters", "weights",
}


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    user = tmp_path / "user"
    write_tiny_plugin(user, "tiny", name="Tiny Net")
    write_tiny_plugin(user, "bad-hash", sha256="e" * 64)
    broken = user / "broken"
    broken.mkdir()
    (broken / "plugin.toml").write_text('id = "broken"\n')
    monkeypatch.setenv("CLARITY_PLUGIN_PATH", str(user))
    return user


def _mine(plugins: list[dict], user: Path) -> dict[str, dict]:
    return {p["id"]: p for p in plugins if p["location"].startswith(str(user))}


def test_json_has_stable_keys_and_statuses(user_dir: Path, capsys) -> None:
    assert main(["list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["version"] == 1
    assert all(set(p) == KEYS for p in data["plugins"])
    mine = _mine(data["plugins"], user_dir)
    assert set(mine) == {"tiny", "bad-hash", "broken"}
    tiny = mine["tiny"]
    assert (tiny["name"], tiny["task"], tiny["scales"], tiny["source"], tiny["status"], tiny["usable"]) == (
        "Tiny Net", "denoise", [1], "user folder", "ok", True
    )
    assert tiny["parameters"] == [
        {"name": "amount", "type": "float", "label": "Amount", "help": "How much of the network's correction to add.",
         "min": 0.0, "max": 2.0, "step": 0.05, "default": 1.0, "choices": [], "auto": False}
    ]
    assert tiny["tiling"] == {"policy": "tiled", "context": 3, "size_multiple": 1, "min_tile": 0}
    assert mine["bad-hash"]["status"] == "hash mismatch" and "eeeeeeeeeeee" in mine["bad-hash"]["reason"]
    assert mine["broken"]["status"] == "invalid manifest" and mine["broken"]["name"] is None
    assert "field 'name': is missing" in mine["broken"]["reason"]


def test_table_is_readable(user_dir: Path, capsys) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "TASK", "SCALE", "STATUS", "SOURCE"]
    row = next(line for line in lines if line.startswith("tiny "))
    assert row.split() == ["tiny", "Tiny", "Net", "denoise", "x1", "ok", "user", "folder"]
    assert "    param amount: float 0..2, default 1.0" in lines
    assert f"    location: {user_dir / 'tiny'}" in lines
    assert any(line.startswith("    reason: ") and "does not match expected eeeeeeeeeeee" in line for line in lines)


def test_task_filter(user_dir: Path, capsys) -> None:
    assert main(["list", "--json", "--task", "derain"]) == 0
    assert _mine(json.loads(capsys.readouterr().out)["plugins"], user_dir) == {}
    assert main(["list", "--task", "sharpen"]) == 2
    assert "unknown task 'sharpen'" in capsys.readouterr().err


def test_clarity_list_does_not_import_torch(user_dir: Path) -> None:
    code = (
        "import sys\nfrom engine.cli.main import main\nrc = main(['list', '--json'])\n"
        "assert 'torch' not in sys.modules, 'torch imported'\nsys.exit(rc)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "tiny" in {p["id"] for p in json.loads(done.stdout)["plugins"]}
