"""The reader fuzzer: a short smoke run finds no crash, mutations are deterministic, crashes are reported."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from engine.cli.main import main
from engine.core.errors import ParameterError
from engine.fuzzing import (
    InvariantViolation,
    builtin_seeds,
    check_document,
    format_report,
    load_seed_folder,
    mutate,
    run_fuzz,
)
from engine.io import ImageDocument, decode_image


def test_builtin_seeds_all_decode() -> None:
    seeds = builtin_seeds()
    assert len(seeds) >= 25
    for name, data in seeds.items():
        doc = decode_image(data, source=name)
        check_document(doc, 10_000)


def test_mutations_are_deterministic_and_change_the_input() -> None:
    seed = builtin_seeds()["rgb.png"]
    a = [mutate(seed, random.Random(5)) for _ in range(1)]
    b = [mutate(seed, random.Random(5)) for _ in range(1)]
    assert a == b
    rng = random.Random(1)
    changed = sum(mutate(seed, rng)[0] != seed for _ in range(50))
    assert changed >= 48


def test_smoke_fuzz_finds_no_crash(tmp_path: Path) -> None:
    report = run_fuzz(builtin_seeds(), seconds=3.0, rng_seed=123, out_dir=tmp_path / "out")
    assert report.runs > 50
    assert report.ok + report.rejected == report.runs
    assert report.crashes == (), format_report(report)
    assert not (tmp_path / "out").exists()


def test_smoke_fuzz_of_header_probe_finds_no_crash(tmp_path: Path) -> None:
    report = run_fuzz(builtin_seeds(), seconds=1.5, rng_seed=7, out_dir=tmp_path / "out", target="info")
    assert report.runs > 20 and report.crashes == (), format_report(report)
    with pytest.raises(ParameterError, match="target"):
        run_fuzz(builtin_seeds(), seconds=1, target="nope")


def test_crashes_are_grouped_and_saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.io

    def broken(data: bytes, **kwargs: object) -> ImageDocument:
        raise IndexError("boom")

    monkeypatch.setattr(engine.io, "decode_image", broken)
    report = run_fuzz({"x": b"\x89PNG\r\n\x1a\n" + b"\0" * 40}, seconds=0.3, out_dir=tmp_path)
    assert len(report.crashes) == 1 and report.crashes[0].kind == "IndexError"
    assert report.crash_count == report.runs > 0
    sample = report.crashes[0].sample
    assert sample is not None and sample.exists() and "boom" in sample.with_suffix(".txt").read_text()
    assert "IndexError" in format_report(report)


def test_invariant_checker_catches_bad_documents() -> None:
    good = ImageDocument(np.zeros((2, 2, 3), np.float32), None, 8, None, None, "PNG")
    check_document(good, 4)
    with pytest.raises(InvariantViolation, match="limit"):
        check_document(good, 3)
    nan = ImageDocument(np.full((2, 2, 1), np.nan, np.float32), None, 8, None, None, "PNG")
    with pytest.raises(InvariantViolation, match="finite"):
        check_document(nan, 100)


def test_seed_folder_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ParameterError):
        load_seed_folder(tmp_path / "missing")
    (tmp_path / "a.png").write_bytes(builtin_seeds()["gray.png"])
    assert list(load_seed_folder(tmp_path)) == ["a.png"]
    code = main(["fuzz", "--seconds", "0.5", "--corpus", str(tmp_path), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0 and "0 crashes" in out and "from 1 seeds" in out
