"""``clarity batch``: chains on the command line, summary line, exit codes 0/1/2/130."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from engine.cli.main import build_parser, main
from tests.batch.conftest import list_files


def test_chain_parsing_params_belong_to_the_preceding_filter() -> None:
    from engine.cli.batch_cmd import build_job

    args = build_parser().parse_args(
        ["batch", "in", "out", "--filter", "tiny", "--param", "amount=0.5", "--filter", "tiny2",
         "--param", "amount=1.5", "--format", "png", "--name", "{stem}_x{ext}", "--no-recursive",
         "--strength", "50", "--tile", "64", "--workers", "3"]
    )
    job = build_job(args)
    assert [(s.plugin_id, dict(s.params)) for s in job.steps] == [("tiny", {"amount": "0.5"}), ("tiny2", {"amount": "1.5"})]
    assert job.output_format == "png" and job.name_template == "{stem}_x{ext}" and job.recursive is False
    assert job.options.strength == 0.5 and job.options.tile == 64 and job.workers == 3


def test_param_before_filter_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["batch", "in", "out", "--param", "amount=1", "--filter", "tiny"])
    assert exc.value.code == 2
    assert "before any --filter" in capsys.readouterr().err


def test_exit_codes(registry: Path, photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["batch", str(photos), str(out), "--filter", "tiny", "--param", "amount=0.5"]) == 0
    assert "3 done, 0 skipped (complete), 0 failed" in capsys.readouterr().out
    assert main(["batch", str(photos), str(out), "--filter", "tiny", "--param", "amount=0.5"]) == 0
    assert "0 done, 3 skipped (complete), 0 failed" in capsys.readouterr().out
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    assert main(["batch", str(photos), str(out), "--filter", "tiny", "--param", "amount=0.5"]) == 1
    captured = capsys.readouterr()
    assert "0 done, 3 skipped (complete), 1 failed" in captured.out
    assert "failed: " in captured.err and "broken.png" in captured.err
    # usage errors: unknown plugin, bad parameter, missing folder -> 2, nothing written
    assert main(["batch", str(photos), str(tmp_path / "o2"), "--filter", "nope"]) == 2
    assert main(["batch", str(photos), str(tmp_path / "o2"), "--filter", "tiny", "--param", "amount=9"]) == 2
    assert main(["batch", str(tmp_path / "missing"), str(tmp_path / "o2"), "--filter", "tiny"]) == 2
    assert main(["batch", str(photos), str(photos), "--filter", "tiny"]) == 2
    assert "clarity: error:" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()


def test_ctrl_c_cancels_after_current_tile_exit_130(registry: Path, photos: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import engine.api

    real = engine.api.apply_filter
    calls: list[int] = []

    def interrupting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:  # Ctrl+C arrives while the second file runs
            signal.raise_signal(signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine.api, "apply_filter", interrupting)
    previous = signal.getsignal(signal.SIGINT)
    out = tmp_path / "out"
    code = main(["batch", str(photos), str(out), "--filter", "tiny", "--tile", "8"])
    assert code == 130
    assert signal.getsignal(signal.SIGINT) is previous  # handler restored
    assert "cancelled at" in capsys.readouterr().out
    data = json.loads((out / "batch-report.json").read_text())
    assert [f["status"] for f in data["files"]] == ["done", "cancelled", "not-started"]
    assert list_files(out) == [".clarity/a.png.json", "a.png", "batch-report.csv", "batch-report.json"]


def test_batch_modules_do_not_import_torch_or_ray_at_start_up() -> None:
    import subprocess
    import sys

    code = (
        "import sys, engine.batch, engine.batch.local, engine.batch.ray_executor, engine.batch.bench, "
        "engine.cli.batch_cmd; print('torch' in sys.modules, 'ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout.split()
    assert out == ["False", "False"]


def test_executor_options_reach_run_batch(registry: Path, photos: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.batch
    from engine.batch.report import write_report

    seen: dict[str, object] = {}

    def fake_run_batch(job, *, progress=None, cancel=None, executor="local", ray_address=None):  # type: ignore[no-untyped-def]
        seen.update(executor=executor, ray_address=ray_address, report_dir=job.report_dir)
        return write_report(job, [], cancelled=False, stopped_at=None)

    monkeypatch.setattr(engine.batch, "run_batch", fake_run_batch)
    code = main(["batch", str(photos), str(tmp_path / "out"), "--filter", "tiny", "--executor", "ray",
                 "--ray-address", "ray://head:10001", "--report-dir", str(tmp_path / "rep")])
    assert code == 0
    assert seen == {"executor": "ray", "ray_address": "ray://head:10001", "report_dir": tmp_path / "rep"}
    assert (tmp_path / "rep" / "batch-report.json").exists()


def test_unknown_executor_is_refused(registry: Path, photos: Path, tmp_path: Path) -> None:
    from engine.batch import BatchJob, FilterStep, run_batch
    from engine.core.errors import ParameterError

    with pytest.raises(ParameterError, match="local, ray"):
        run_batch(BatchJob(photos, tmp_path / "o", (FilterStep("tiny"),)), executor="dask")


def test_clarity_bench_batch_hook(registry: Path, photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--filter", "tiny", "--size", "16x16", "--batch", str(photos), "--batch-limit", "2",
                 "--json"]) == 0
    batch = json.loads(capsys.readouterr().out)["batch"]
    assert (batch["plugin"], batch["images"], batch["workers"]) == ("tiny", 2, 2)
    assert batch["serial_images_per_second"] == pytest.approx(2 / batch["serial_seconds"], rel=0.01)


def test_clarity_bench_batch_alone_prints_only_the_batch_table(registry: Path, photos: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--filter", "tiny", "--batch", str(photos)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["filter", "images", "mode"]
    assert "MP/s" not in out and "overlapped" in out  # no synthetic-image table


def test_resolved_values_in_output_and_reports(registry: Path, photos: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import csv

    from engine.io import read_image
    from tests.plugin_factory import AUTO_LEVEL_TOML, write_tiny_plugin

    write_tiny_plugin(registry, "tiny-auto", extra_toml=AUTO_LEVEL_TOML)
    out = tmp_path / "out"
    assert main(["batch", str(photos), str(out), "--filter", "tiny", "--filter", "tiny-auto"]) == 0
    # tiny-auto sees the output of tiny; its "auto" level is 100 x that image's mean
    levels = {}
    for name in ("a.png", "b.png", "sub/c.png"):
        from engine.api import apply_filter

        first = apply_filter(read_image(photos / name).pixels, "tiny").image
        levels[name] = round(float(first.mean()) * 100.0, 3)
    data = json.loads((out / "batch-report.json").read_text())
    got = {Path(f["source"]).relative_to(photos).as_posix(): f["resolved"] for f in data["files"]}
    assert got == {name: {"tiny-auto.level": pytest.approx(level, abs=1e-3)} for name, level in levels.items()}
    rows = list(csv.DictReader((out / "batch-report.csv").open()))
    assert [r["resolved"] for r in rows] == [f"tiny-auto.level={levels[n]:.1f}" for n in ("a.png", "b.png", "sub/c.png")]
    ordered = sorted(levels.values())
    line = f"resolved tiny-auto.level: {ordered[0]:.1f} to {ordered[-1]:.1f} (median {ordered[1]:.1f}) over 3 files"
    assert line in capsys.readouterr().out.splitlines()
    # a fixed value resolves nothing: empty in the report, no line
    assert main(["batch", str(photos), str(tmp_path / "o2"), "--filter", "tiny-auto", "--param", "level=5"]) == 0
    assert not [line for line in capsys.readouterr().out.splitlines() if line.startswith("resolved ")]
    assert all(f["resolved"] == {} for f in json.loads((tmp_path / "o2" / "batch-report.json").read_text())["files"])
