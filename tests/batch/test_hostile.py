"""Issue 19 (and 16 item 6) on the batch: non-regular files, reports, overwrite rules, templates,
SIGTERM, stale temp files, plugins that exit, devices, control characters."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
from pathlib import Path

import pytest

from engine.batch import DONE, FAILED, SKIPPED_COMPLETE, BatchJob, FilterStep, plan_batch, run_batch
from engine.batch.provenance import legacy_sidecar_path, read_record, record_path
from engine.core.errors import DeviceError, ImageWriteError, ParameterError
from engine.core.types import DeviceKind, RunOptions
from tests.batch.conftest import list_files, temp_files
from tests.bounded import bounded
from tests.plugin_factory import write_tiny_plugin

TINY = (FilterStep("tiny", {"amount": "0.5"}),)


def statuses(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {o.source.name: o.status for o in report.outcomes}


# ------------------------------------------------------------------ item 1: non-regular files
def test_fifo_and_device_link_inputs_are_skipped_with_a_reason(registry: Path, photos: Path, tmp_path: Path) -> None:
    os.mkfifo(photos / "pipe.png")
    os.symlink("/dev/zero", photos / "zero.jpg")
    report = bounded(lambda: run_batch(BatchJob(photos, tmp_path / "out", TINY)), 60.0)
    st = statuses(report)
    assert st == {"a.png": DONE, "b.png": DONE, "pipe.png": FAILED, "zero.jpg": FAILED, "c.png": DONE}
    errors = {o.source.name: o.error for o in report.outcomes}
    assert errors["pipe.png"] == f"cannot read '{photos / 'pipe.png'}': it is a named pipe (FIFO), not a regular file; skipped"
    assert errors["zero.jpg"] == f"cannot read '{photos / 'zero.jpg'}': it is a device, not a regular file; skipped"
    assert not (tmp_path / "out" / "pipe.png").exists()


def test_fifos_where_records_and_outputs_go_never_block(registry: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / ".clarity").mkdir(parents=True)
    os.mkfifo(out / ".clarity" / "a.png.json")  # where a record goes
    os.mkfifo(legacy_sidecar_path(out / "b.png"))  # an old-style sidecar
    os.mkfifo(out / "b.png")  # the output itself
    report = bounded(lambda: run_batch(BatchJob(photos, out, TINY)), 60.0)
    assert statuses(report) == {"a.png": DONE, "b.png": FAILED, "c.png": DONE}
    assert "already exists and was not written by this batch" in report.outcomes[1].error
    assert read_record(out / "a.png") is not None  # the FIFO was replaced by the record (rename), never opened


# ------------------------------------------------------------------ item 5 / issue 16.6: overwrite rules
def test_edited_output_is_kept_and_legacy_sidecars_still_resume(registry: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_batch(BatchJob(photos, out, TINY)).done == 3
    # an output of an older version: sidecar beside it instead of the hidden record
    record_path(out / "b.png").replace(legacy_sidecar_path(out / "b.png"))
    (out / "a.png").write_bytes((out / "a.png").read_bytes() + b"edited")  # the user touched it
    again = run_batch(BatchJob(photos, out, TINY))
    assert statuses(again) == {"a.png": FAILED, "b.png": SKIPPED_COMPLETE, "c.png": SKIPPED_COMPLETE}
    assert (out / "a.png").read_bytes().endswith(b"edited")
    assert "--overwrite" in again.outcomes[0].error
    forced = run_batch(BatchJob(photos, out, (FilterStep("tiny", {"amount": "0.6"}),), overwrite=True))
    assert forced.done == 3
    assert not legacy_sidecar_path(out / "b.png").exists()  # migrated into the hidden folder
    assert read_record(out / "b.png")["recipe"]["steps"][0]["params"] == {"amount": 0.6}


# ------------------------------------------------------------------ item 4: report location
def test_unwritable_report_location_is_refused_before_any_work(registry: Path, photos: Path, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    job = BatchJob(photos, tmp_path / "out", TINY, report_dir=tmp_path / "afile" / "reports")
    with pytest.raises(ImageWriteError, match=r"cannot write .*batch-report.json.*choose another folder with --report-dir"):
        run_batch(job)
    assert not (tmp_path / "out").exists()


def test_report_failing_at_the_end_keeps_the_summary(registry: Path, photos: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import engine.batch.report as report_module
    from engine.cli.main import main

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report_module, "_write_files", full)
    out = tmp_path / "out"
    code = main(["batch", str(photos), str(out), "--filter", "tiny"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out.strip() == (
        f"3 done, 0 skipped (complete), 0 failed; outputs are in {out}; the report was NOT written: "
        f"cannot write '{out / 'batch-report.json'}': the disk is full; free some space or choose another folder "
        "(No space left on device)"
    )
    assert sorted(p.name for p in out.iterdir()) == [".clarity", "a.png", "b.png", "sub"]


# ------------------------------------------------------------------ item 7: templates
@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{stem:>999999999}{ext}", r"asks for more than 255 characters"),
        ("{index:x<300}{ext}", r"asks for more than 255 characters"),
        ("{index:x<255}{ext}", r"gives names longer than 255 bytes"),
        ("{stem:d}{ext}", r"cannot be used: Unknown format code 'd'"),
        ("{stem:{ext}}", r"may not contain fields"),
        ("{stem.__class__}", r"unknown field"),
        ("x" * 2000, r"longer than 1024 characters"),
    ],
)
def test_bad_templates_are_refused_before_any_work(registry: Path, photos: Path, tmp_path: Path,
                                                   template: str, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        bounded(lambda: plan_batch(BatchJob(photos, tmp_path / "out", TINY, name_template=template)), 10)
    assert not (tmp_path / "out").exists()


def test_long_stems_are_refused_at_planning(registry: Path, tmp_path: Path) -> None:
    from tests.batch.conftest import photo, write_png

    src = tmp_path / "in"
    write_png(src / ("p" * 250 + ".png"), photo(1))
    with pytest.raises(ParameterError, match=r"gives a file name of 259 bytes for p+\.png; file names are at most 255"):
        plan_batch(BatchJob(src, tmp_path / "out", TINY, name_template="{stem}_long{ext}"))


# ------------------------------------------------------------------ item 8: SIGTERM, stale temp files
def test_sigterm_cancels_like_ctrl_c_and_writes_the_report(registry: Path, photos: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    import engine.api
    from engine.cli.main import main

    real = engine.api.apply_filter
    calls: list[int] = []

    def terminated(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            signal.raise_signal(signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine.api, "apply_filter", terminated)
    previous = signal.getsignal(signal.SIGTERM)
    out = tmp_path / "out"
    assert main(["batch", str(photos), str(out), "--filter", "tiny", "--tile", "8"]) == 130
    assert signal.getsignal(signal.SIGTERM) is previous
    data = json.loads((out / "batch-report.json").read_text())
    assert [f["status"] for f in data["files"]] == ["done", "cancelled", "not-started"]
    assert temp_files(out) == []


def test_resume_removes_stale_temp_files_of_its_own_naming(registry: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / ".clarity").mkdir(parents=True)
    ours = [out / ".~a.8c8a35ca.png", out / "sub" / ".~c.0123abcd.png", out / ".clarity" / ".~b.png.deadbeef.json"]
    ours[1].parent.mkdir()
    for p in ours:
        p.write_bytes(b"")
    theirs = [out / ".~zzz.8c8a35ca.png", out / ".~a.notours.png", out / "a-notes.txt"]
    for p in theirs:
        p.write_bytes(b"keep")
    os.symlink(out / "a-notes.txt", out / ".~b.11111111.png")  # a link is never followed nor removed
    assert run_batch(BatchJob(photos, out, TINY)).done == 3
    assert not any(p.exists() for p in ours)
    assert all(p.read_bytes() == b"keep" for p in theirs) and os.path.islink(out / ".~b.11111111.png")


# ------------------------------------------------------------------ item 10: a plugin that exits
@pytest.mark.parametrize(("body", "reason"), [
    ("import sys; sys.exit(5)", "forward() called sys.exit(5)"),
    ("raise KeyboardInterrupt", "forward() raised KeyboardInterrupt"),
])
def test_plugin_exiting_in_forward_fails_that_file_only(registry: Path, photos: Path, tmp_path: Path,
                                                        body: str, reason: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli.main import main

    folder = write_tiny_plugin(registry, "quitter")
    model = folder / "model.py"
    marker = "    def forward(self, x: torch.Tensor, params: ParamValues) -> torch.Tensor:\n"
    model.write_text(model.read_text().replace(marker, marker + f"        {body}\n", 1))
    out = tmp_path / "out"
    assert main(["batch", str(photos), str(out), "--filter", "quitter", "--filter", "tiny"]) == 1
    data = json.loads((out / "batch-report.json").read_text())
    assert [f["status"] for f in data["files"]] == ["failed"] * 3
    assert all(reason in f["error"] for f in data["files"])
    assert capsys.readouterr().out.startswith("0 done, 0 skipped (complete), 3 failed; report:")


# ------------------------------------------------------------------ items 11, 12, 6
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_one_usage_error(registry: Path, photos: Path, tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match="CUDA"):
        run_batch(BatchJob(photos, tmp_path / "out", TINY, options=RunOptions(device=DeviceKind.CUDA)))
    assert not (tmp_path / "out").exists()


def test_disk_full_names_the_output_not_the_temp_file(registry: Path, photos: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.core.atomic

    real = engine.core.atomic._write_all

    def full(path: Path, data: bytes) -> None:
        if path.suffix == ".png":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(engine.core.atomic, "_write_all", full)
    out = tmp_path / "out"
    report = run_batch(BatchJob(photos, out, TINY))
    assert report.failed == 3
    assert report.outcomes[0].error == (f"cannot write '{out / 'a.png'}': the disk is full; free some space or choose "
                                        "another folder (No space left on device)")
    assert temp_files(out) == []


def test_control_characters_in_names_never_reach_the_terminal(registry: Path, photos: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli.main import main

    (photos / "bad\x1b]0;pwned\x07\u202e.png").write_text("not an image")
    assert main(["batch", str(photos), str(tmp_path / "out"), "--filter", "tiny"]) == 1
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u202e]", text)
    assert "bad\\x1b]0;pwned\\x07\\u202e.png" in captured.err
    assert list_files(tmp_path / "out")  # the good files were still written
