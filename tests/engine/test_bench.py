"""engine.bench and ``clarity bench``: figures are consistent, table and JSON are complete."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import engine.api
from engine.bench import BenchResult, BenchSpec, bench_plugin, format_table, parse_size, peak_rss_bytes, synthetic_image
from engine.cli.main import main
from engine.core.errors import ParameterError
from engine.core.types import DeviceKind, RunOptions
from tests.plugin_factory import write_tiny_plugin


@pytest.fixture
def user_plugins(monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = Path(os.environ["CLARITY_PLUGIN_PATH"])
    write_tiny_plugin(folder, "tiny-dn")
    write_tiny_plugin(folder, "tiny-sr", kind="sr", scale=3, task="super-resolution")
    monkeypatch.setattr(engine.api, "_default_registry", None)
    return folder


def test_parse_size() -> None:
    assert parse_size("2048x1536") == (2048, 1536)
    assert parse_size("64X48") == (64, 48)
    for bad in ("2048", "0x5", "ax3", "3x4x5", "-3x4"):
        with pytest.raises(ParameterError, match="WxH"):
            parse_size(bad)


def test_synthetic_image_is_seeded() -> None:
    a, b = synthetic_image(40, 30, 3, seed=1), synthetic_image(40, 30, 3, seed=1)
    assert a.shape == (30, 40, 3) and a.dtype == np.float32 and np.array_equal(a, b)
    assert not np.array_equal(a, synthetic_image(40, 30, 3, seed=2))
    assert a.min() >= 0 and a.max() <= 1 and a.std() > 0.1


def test_bench_plugin_figures(user_plugins: Path) -> None:
    r = bench_plugin("tiny-sr", BenchSpec(64, 48, RunOptions(device=DeviceKind.CPU, tile=16), repeat=2))
    assert (r.plugin_id, r.scale, r.tile, r.tiles, r.device, r.precision, r.repeat) == ("tiny-sr", 3, 16, 12, "cpu", "fp32", 2)
    assert r.output_megapixels == pytest.approx(64 * 48 * 9 / 1e6)
    assert r.tiled_mp_per_s == pytest.approx(r.output_megapixels / r.tiled_seconds)
    assert r.overhead == pytest.approx(r.tiled_seconds / r.whole_seconds)
    assert 0 < r.tiled_peak_bytes <= r.whole_peak_bytes <= peak_rss_bytes() and r.memory_kind == "peak RSS"
    skipped = bench_plugin("tiny-dn", BenchSpec(32, 32, RunOptions(device=DeviceKind.CPU, tile=16), whole=False))
    assert skipped.whole_seconds is None and skipped.overhead is None and skipped.whole_mp_per_s is None
    assert skipped.tiles == 4


def test_format_table() -> None:
    rows = [
        BenchResult("a", 100, 50, 1, "cpu", "fp32", 1, 32, 8, 2.0, 300 * 2**20, 1.0, 400 * 2**20, "peak RSS"),
        BenchResult("b", 100, 50, 2, "cpu", "fp32", 1, 32, 8, 0.5, 300 * 2**20, None, None, "peak RSS", ("careful",)),
    ]
    text = format_table(rows)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["filter", "size", "out"]
    a = lines[2].split()
    assert a == ["a", "100x50", "0.01", "cpu", "fp32", "torch", "32", "8", "1.000", "0.005", "2.000", "0.003", "2.00x",
                 "400", "300"]  # fmt: skip
    b = lines[3].split()
    assert b[8:10] == ["-", "-"] and b[12] == "-" and b[11] == "0.040"
    assert "b: careful" in text and "peak RSS" in text


def test_cli_bench_json_with_two_filters(user_plugins: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "-f", "tiny-dn", "-f", "tiny-sr", "--size", "64x48", "--tile", "16", "--device", "cpu", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    assert data["version"] == 1 and [r["plugin_id"] for r in data["results"]] == ["tiny-dn", "tiny-sr"]
    for r in data["results"]:
        assert r["tiles"] == 12 and r["width"] == 64 and r["height"] == 48
        assert r["overhead"] == pytest.approx(r["tiled_seconds"] / r["whole_seconds"])


def test_cli_bench_table(user_plugins: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "-f", "tiny-dn", "--size", "40x30", "--tile", "0", "--no-whole", "--param", "amount=0.5"]) == 0
    captured = capsys.readouterr()
    assert "tiny-dn" in captured.out.splitlines()[2] and "overhead" in captured.out
    assert "benchmarking tiny-dn at 40x30" in captured.err


@pytest.mark.parametrize(("argv", "message"), [(["--size", "big"], "WxH"), (["--repeat", "0"], "at least 1"),
                                               (["-f", "nope"], "unknown filter")])  # fmt: skip
def test_cli_bench_errors(user_plugins: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(["bench", "-f", "tiny-dn", "--size", "8x8", *argv]) == 2
    assert message in capsys.readouterr().err
