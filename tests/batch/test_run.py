"""Running batches: bad files, resume, cancel, no clobbering, write failures, chains, formats."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from engine.batch import (
    CANCELLED,
    DONE,
    FAILED,
    NOT_STARTED,
    SKIPPED_COMPLETE,
    BatchJob,
    BatchProgress,
    FilterStep,
    run_batch,
)
from engine.batch.provenance import read_sidecar, sidecar_path
from engine.cancel import CancelToken
from engine.core.types import RunOptions
from tests.batch.conftest import age, list_files, photo, temp_files, write_png

TINY = (FilterStep("tiny", {"amount": "0.5"}),)


def digest_tree(folder: Path) -> dict[str, str]:
    return {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in list_files(folder)}


def statuses(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {o.source.name: o.status for o in report.outcomes}


def test_first_run_writes_outputs_sidecars_and_reports(registry: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    seen: list[BatchProgress] = []
    report = run_batch(BatchJob(photos, out, TINY), progress=seen.append)
    assert statuses(report) == {"a.png": DONE, "b.png": DONE, "c.png": DONE}
    assert report.ok and (report.done, report.failed, report.skipped) == (3, 0, 0)
    assert list_files(out) == [  # provenance in one hidden folder per output folder, nothing beside the photos
        ".clarity/a.png.json", ".clarity/b.png.json", "a.png", "b.png", "batch-report.csv", "batch-report.json",
        "sub/.clarity/c.png.json", "sub/c.png",
    ]
    side = read_sidecar(out / "a.png")
    assert side is not None
    assert side["recipe"]["steps"][0]["plugin_id"] == "tiny"
    assert side["recipe"]["steps"][0]["version"] == "0.1.0"
    assert side["recipe"]["steps"][0]["params"] == {"amount": 0.5}
    assert len(side["recipe"]["steps"][0]["weights"]["main"]) == 64
    assert side["source"]["sha256"] == hashlib.sha256((photos / "a.png").read_bytes()).hexdigest()
    assert side["output"]["sha256"] == hashlib.sha256((out / "a.png").read_bytes()).hexdigest()
    data = json.loads(report.json_path.read_text())
    assert data["summary"]["counts"]["done"] == 3 and data["summary"]["ok"] is True
    assert [f["status"] for f in data["files"]] == [DONE] * 3
    csv_lines = report.csv_path.read_text().splitlines()
    assert csv_lines[0] == "source,output,status,seconds,error,warnings,resolved" and len(csv_lines) == 4
    assert all(f["resolved"] == {} for f in data["files"])  # amount was given: nothing resolved
    # progress: ends with every file counted, ETA known once a file was computed
    assert seen[-1].done == 3 and seen[-1].total == 3
    assert any(p.eta_seconds is not None for p in seen)
    assert any(p.file_progress is not None and p.file_progress.total >= 1 for p in seen)


def test_output_matches_apply_filter(registry: Path, photos: Path, tmp_path: Path) -> None:
    from engine.api import apply_filter
    from engine.io import read_image

    out = tmp_path / "out"
    chain = (FilterStep("tiny", {"amount": "0.5"}), FilterStep("tiny2", {}))
    report = run_batch(BatchJob(photos, out, chain, recursive=False))
    assert report.ok and report.done == 2
    src = read_image(photos / "a.png").pixels
    expected = apply_filter(apply_filter(src, "tiny", {"amount": 0.5}).image, "tiny2", {}).image
    got = read_image(out / "a.png").pixels
    assert got.shape == expected.shape
    assert np.abs(got - np.clip(expected, 0, 1)).max() <= 1 / 255 + 1e-6
    one = apply_filter(src, "tiny", {"amount": 0.5}).image
    assert np.abs(got - np.clip(one, 0, 1)).max() > 2 / 255  # the second filter really ran
    side = read_sidecar(out / "a.png")
    assert side is not None and [s["plugin_id"] for s in side["recipe"]["steps"]] == ["tiny", "tiny2"]


def test_bad_files_are_reported_and_never_stop_the_batch(registry: Path, photos: Path, tmp_path: Path) -> None:
    good = (photos / "a.png").read_bytes()
    (photos / "empty.png").write_bytes(b"")
    (photos / "truncated.png").write_bytes(good[: len(good) // 2])
    (photos / "text.jpg").write_text("this is not a JPEG\n")
    before = digest_tree(photos)
    out = tmp_path / "out"
    report = run_batch(BatchJob(photos, out, TINY))
    st = statuses(report)
    assert {k: v for k, v in st.items() if v == DONE} == {"a.png": DONE, "b.png": DONE, "c.png": DONE}
    for bad in ("empty.png", "truncated.png", "text.jpg"):
        assert st[bad] == FAILED
        outcome = next(o for o in report.outcomes if o.source.name == bad)
        assert outcome.error and "\n" not in outcome.error
        assert not outcome.output.exists() and not sidecar_path(outcome.output).exists()
    assert not report.ok and report.failed == 3
    assert digest_tree(photos) == before  # inputs untouched
    assert temp_files(out) == []


def test_resume_skips_complete_redoes_missing_and_keeps_stale_or_edited(registry: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    job = BatchJob(photos, out, TINY)
    assert run_batch(job).done == 3
    for f in ("a.png", "b.png", "sub/c.png"):
        age(out / f)
    stamps = {f: os.stat(out / f).st_mtime_ns for f in ("a.png", "b.png", "sub/c.png")}

    second = run_batch(job)
    assert statuses(second) == {"a.png": SKIPPED_COMPLETE, "b.png": SKIPPED_COMPLETE, "c.png": SKIPPED_COMPLETE}
    assert second.ok and {f: os.stat(out / f).st_mtime_ns for f in stamps} == stamps

    (out / "a.png").unlink()  # deleted output: redone
    write_png(photos / "b.png", photo(22))  # source changed: stale, kept without overwrite
    edited = (out / "sub" / "c.png").read_bytes()[:40]
    (out / "sub" / "c.png").write_bytes(edited)  # changed after we wrote it: kept without overwrite
    kept_b = (out / "b.png").read_bytes()
    third = run_batch(job)
    assert statuses(third) == {"a.png": DONE, "b.png": FAILED, "c.png": FAILED}
    errors = {o.source.name: o.error for o in third.outcomes}
    assert errors["b.png"] == (f"output '{out / 'b.png'}' already exists and was made from another version of the input "
                               "or with other settings; it was kept: pass --overwrite to replace it, or choose another "
                               "output folder or --name")
    assert errors["c.png"].startswith(f"output '{out / 'sub' / 'c.png'}' already exists and was changed since this "
                                      "batch wrote it (edited?)")
    assert (out / "b.png").read_bytes() == kept_b and (out / "sub" / "c.png").read_bytes() == edited
    forced = run_batch(BatchJob(photos, out, TINY, overwrite=True))
    assert statuses(forced) == {"a.png": SKIPPED_COMPLETE, "b.png": DONE, "c.png": DONE}
    assert read_sidecar(out / "b.png")["source"]["sha256"] == hashlib.sha256((photos / "b.png").read_bytes()).hexdigest()

    sidecar_path(out / "a.png").write_text("{ not json")  # corrupt record: the output is no longer provably ours
    touched = photos / "sub" / "c.png"
    age(touched, 5)  # mtime changed, content same: still complete
    fourth = run_batch(job)
    assert statuses(fourth) == {"a.png": FAILED, "b.png": SKIPPED_COMPLETE, "c.png": SKIPPED_COMPLETE}
    assert "was not written by this batch" in fourth.outcomes[0].error

    other = BatchJob(photos, out, (FilterStep("tiny", {"amount": "0.7"}),))  # params changed: stale
    refused = run_batch(other)
    assert refused.failed == 3  # a.png: still not provably ours; b and c: made with other settings
    assert ["other settings" in o.error for o in refused.outcomes] == [False, True, True]
    assert run_batch(BatchJob(photos, out, other.steps, overwrite=True)).done == 3
    assert run_batch(BatchJob(photos, out, TINY, options=RunOptions(strength=0.5), overwrite=True)).done == 3
    # plugin updated (new version): every output is stale
    manifest = registry / "tiny" / "plugin.toml"
    manifest.write_text(manifest.read_text().replace('version = "0.1.0"', 'version = "0.2.0"'))
    import engine.api

    engine.api._default_registry = None
    job_half = BatchJob(photos, out, TINY, options=RunOptions(strength=0.5))
    assert run_batch(job_half).failed == 3
    assert run_batch(BatchJob(photos, out, TINY, options=RunOptions(strength=0.5), overwrite=True)).done == 3
    assert read_sidecar(out / "a.png")["recipe"]["steps"][0]["version"] == "0.2.0"
    assert run_batch(job_half).skipped == 3
    assert "ensemble" not in read_sidecar(out / "a.png")["recipe"]  # records of plain runs keep their old form
    # self-ensemble changes the pixels: outputs made without it are stale for a run with it
    job_ensemble = BatchJob(photos, out, TINY, options=RunOptions(strength=0.5, ensemble=8))
    assert run_batch(job_ensemble).failed == 3
    assert run_batch(BatchJob(photos, out, TINY, options=RunOptions(strength=0.5, ensemble=8), overwrite=True)).done == 3
    assert read_sidecar(out / "a.png")["recipe"]["ensemble"] == 8
    assert run_batch(job_ensemble).skipped == 3
    assert temp_files(out) == []


def test_cancel_stops_after_current_tile_without_partial_files(registry: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    token = CancelToken()
    second = photos / "b.png"
    tiles_of_second: list[int] = []

    def on_progress(p: BatchProgress) -> None:
        if p.current == second and p.file_progress is not None and p.file_progress.done >= 1:
            tiles_of_second.append(p.file_progress.done)
            token.cancel()

    job = BatchJob(photos, out, TINY, options=RunOptions(tile=8))
    report = run_batch(job, progress=on_progress, cancel=token)
    assert report.cancelled and not report.ok
    assert report.stopped_at == second
    assert statuses(report) == {"a.png": DONE, "b.png": CANCELLED, "c.png": NOT_STARTED}
    assert tiles_of_second == [1]  # stopped right after the tile that was running
    assert list_files(out) == [".clarity/a.png.json", "a.png", "batch-report.csv", "batch-report.json"]
    data = json.loads(report.json_path.read_text())
    assert data["summary"]["cancelled"] is True and data["summary"]["stopped_at"] == str(second)
    assert data["summary"]["counts"]["not-started"] == 1 and data["summary"]["counts"]["cancelled"] == 1
    resumed = run_batch(job)
    assert statuses(resumed) == {"a.png": SKIPPED_COMPLETE, "b.png": DONE, "c.png": DONE}


def test_existing_foreign_files_are_never_overwritten(registry: Path, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"someone's file")
    report = run_batch(BatchJob(photos, out, TINY))
    assert statuses(report) == {"a.png": FAILED, "b.png": DONE, "c.png": DONE}
    assert "--overwrite" in report.outcomes[0].error
    assert (out / "a.png").read_bytes() == b"someone's file"
    assert not sidecar_path(out / "a.png").exists()
    again = run_batch(BatchJob(photos, out, TINY))  # still refused on a re-run
    assert statuses(again)["a.png"] == FAILED and (out / "a.png").read_bytes() == b"someone's file"
    forced = run_batch(BatchJob(photos, out, TINY, overwrite=True))
    assert statuses(forced) == {"a.png": DONE, "b.png": SKIPPED_COMPLETE, "c.png": SKIPPED_COMPLETE}
    assert (out / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_in_place_with_overwrite_replaces_inputs_only_when_asked(registry: Path, photos: Path) -> None:
    before = (photos / "a.png").read_bytes()
    report = run_batch(BatchJob(photos, photos, TINY, recursive=False, overwrite=True, report_dir=photos / "rep"))
    assert report.done == 2 and (photos / "a.png").read_bytes() != before
    assert sidecar_path(photos / "a.png").exists()


def _writable(folder: Path) -> bool:
    probe = folder / "probe"
    try:
        probe.write_bytes(b"")
    except OSError:
        return False
    probe.unlink()
    return True


def test_read_only_output_folder(registry: Path, photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    os.chmod(out / "sub", 0o555)
    os.chmod(out, 0o555)
    try:
        if _writable(out):  # running as root: permissions are not enforced, simulate EACCES instead
            import engine.core.atomic

            real_create = engine.core.atomic._create_temp

            def denied(path: Path) -> Path:
                if out in Path(path).parents:
                    raise PermissionError(errno.EACCES, "Permission denied", str(path))
                return real_create(path)

            monkeypatch.setattr(engine.core.atomic, "_create_temp", denied)
        report = run_batch(BatchJob(photos, out, TINY, report_dir=tmp_path / "reports"))
    finally:
        os.chmod(out, 0o755)
        os.chmod(out / "sub", 0o755)
    assert [o.status for o in report.outcomes] == [FAILED] * 3
    assert all("permission denied" in o.error for o in report.outcomes), [o.error for o in report.outcomes]
    assert list_files(out) == []
    assert report.json_path == tmp_path / "reports" / "batch-report.json" and report.json_path.exists()


def test_disk_full_while_writing_fails_that_file_only(registry: Path, photos: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.io

    real_write = engine.io.write_image_report

    def full_disk(path: Path, doc, **kwargs):  # type: ignore[no-untyped-def]
        if doc.source is not None and Path(doc.source).name == "b.png":
            Path(path).write_bytes(b"\x89PNG half")  # a partial file, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_write(path, doc, **kwargs)

    monkeypatch.setattr(engine.io, "write_image_report", full_disk)
    out = tmp_path / "out"
    report = run_batch(BatchJob(photos, out, TINY))
    assert statuses(report) == {"a.png": DONE, "b.png": FAILED, "c.png": DONE}
    assert "disk is full" in report.outcomes[1].error
    assert not (out / "b.png").exists() and not sidecar_path(out / "b.png").exists()
    assert temp_files(out) == []
    monkeypatch.setattr(engine.io, "write_image_report", real_write)
    assert statuses(run_batch(BatchJob(photos, out, TINY)))["b.png"] == DONE


def test_output_format_conversion(registry: Path, photos: Path, tmp_path: Path) -> None:
    from PIL import Image

    out = tmp_path / "out"
    report = run_batch(BatchJob(photos, out, TINY, output_format="jpeg", name_template="{stem}_tiny{ext}"))
    assert report.ok
    assert [o.output.name for o in report.outcomes] == ["a_tiny.jpg", "b_tiny.jpg", "c_tiny.jpg"]
    with Image.open(out / "a_tiny.jpg") as im:
        assert im.format == "JPEG" and im.size == (28, 20)
    report = run_batch(BatchJob(photos, out, TINY, output_format="tiff", recursive=False))
    with Image.open(out / "a.tif") as im:
        assert im.format == "TIFF"
    # an RGBA input written as JPEG: the dropped alpha is a warning in the report
    rgba = np.dstack([np.round(photo(7) * 255), np.full((20, 28), 128)]).astype(np.uint8)
    alpha_dir = tmp_path / "alpha"
    alpha_dir.mkdir()
    Image.fromarray(rgba, "RGBA").save(alpha_dir / "t.png")
    report = run_batch(BatchJob(alpha_dir, tmp_path / "alpha-out", TINY, output_format="jpeg"))
    assert report.ok and report.outcomes[0].warnings, report.outcomes[0]
    assert any("alpha" in w.lower() for w in report.outcomes[0].warnings)
    assert "alpha" in json.loads(report.json_path.read_text())["files"][0]["warnings"][0].lower()


def test_sixteen_bit_and_metadata_are_carried(registry: Path, tmp_path: Path) -> None:
    import cv2
    from PIL import Image

    src = tmp_path / "in"
    src.mkdir()
    deep = np.round(photo(5) * 65535).astype(np.uint16)
    cv2.imwrite(str(src / "deep.png"), deep[:, :, ::-1])
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "ClarityCam"  # Make
    rgb8 = Image.fromarray(np.round(photo(6) * 255).astype(np.uint8), "RGB")
    rgb8.save(src / "meta.jpg", quality=95, exif=exif.tobytes(), icc_profile=profile)

    out = tmp_path / "out"
    report = run_batch(BatchJob(src, out, TINY))
    assert report.ok, [o.error for o in report.outcomes]
    written = cv2.imread(str(out / "deep.png"), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16 and written.shape == deep.shape
    assert len(np.unique(written)) > 256  # really 16-bit values, not 8-bit scaled up
    with Image.open(out / "meta.jpg") as im:
        assert im.info.get("icc_profile") == profile
        assert im.getexif().get(0x010F) == "ClarityCam"


def test_whole_bad_input_corpus_mixed_into_good_photos(registry: Path, tmp_path: Path) -> None:
    from engine.core.text import printable
    from tests.corpus import make_bad_input_corpus, make_good_photos

    src = tmp_path / "in"
    good = make_good_photos(src / "good", 4, width=24, height=16)
    cases = make_bad_input_corpus(src / "corpus")
    out = tmp_path / "out"
    (out / "good").mkdir(parents=True)
    (out / "good" / good[0].name).write_bytes(b"an existing file that is not ours")
    try:
        before = {p: p.read_bytes() for p in src.rglob("*")
                  if p.is_file() and os.access(p, os.R_OK) and p.stat().st_size < 1 << 20}  # not the 4 GiB sparse one
        report = run_batch(BatchJob(src, out, TINY))
    finally:
        for case in cases:
            os.chmod(case.path, 0o644)
    by_source = {o.source: o for o in report.outcomes}
    for case in cases:
        outcome = by_source[case.path]
        should_fail = case.expect == "error" and case.skip_reason is None
        assert outcome.status == (FAILED if should_fail else DONE), (case.name, outcome.error)
        if should_fail:
            assert printable(case.name) in outcome.error, outcome.error  # one line that names the file (escaped)
            assert "\n" not in outcome.error and not outcome.output.exists()
        else:
            assert outcome.output.exists() and sidecar_path(outcome.output).exists()
    assert by_source[good[0]].status == FAILED and "--overwrite" in by_source[good[0]].error
    assert (out / "good" / good[0].name).read_bytes() == b"an existing file that is not ours"
    assert all(by_source[g].status == DONE for g in good[1:])
    assert (out / "corpus" / "animated.png").exists()  # GIF read-only: written as PNG
    gif = by_source[src / "corpus" / "animated.gif"]
    assert gif.warnings and any("frame" in w for w in gif.warnings), gif.warnings  # load note carried
    assert len(report.outcomes) == len(cases) + len(good)
    assert {p: p.read_bytes() for p in before} == before  # no input changed
    assert temp_files(out) == []
    data = json.loads(report.json_path.read_text())
    assert data["summary"]["counts"]["failed"] == report.failed == 1 + sum(
        1 for c in cases if c.expect == "error" and c.skip_reason is None)


def test_file_appearing_during_the_write_is_not_clobbered_nor_claimed(registry: Path, photos: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.io

    real_write = engine.io.write_image_report
    out = tmp_path / "out"

    def racing(path: Path, doc, **kwargs):  # type: ignore[no-untyped-def]
        result = real_write(path, doc, **kwargs)
        if Path(doc.source).name == "a.png":
            (out / "a.png").write_bytes(b"written by someone else meanwhile")
        return result

    monkeypatch.setattr(engine.io, "write_image_report", racing)
    report = run_batch(BatchJob(photos, out, TINY))
    assert statuses(report) == {"a.png": FAILED, "b.png": DONE, "c.png": DONE}
    assert "already exists" in report.outcomes[0].error
    assert (out / "a.png").read_bytes() == b"written by someone else meanwhile"
    assert not sidecar_path(out / "a.png").exists()  # our sidecar would have marked it as ours
    assert temp_files(out) == []


def test_terminal_progress_line_and_eta_format() -> None:
    import io

    from engine.cli.batch_cmd import TerminalProgress, format_eta
    from engine.core.types import Progress

    assert (format_eta(None), format_eta(59.6), format_eta(61), format_eta(3725)) == ("--:--", "1:00", "1:01", "1:02:05")

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    bar = TerminalProgress(stream)
    bar(BatchProgress(1, 4, Path("/x/b.png"), Progress(3, 4), 1, 0, 0, 12.0))
    bar.close()
    assert stream.getvalue() == "\r[2/4] b.png  75%  done 1 skipped 0 failed 0  ETA 0:12\n"
    quiet = io.StringIO()
    TerminalProgress(quiet)(BatchProgress(0, 1, None, None, 0, 0, 0, None))
    assert quiet.getvalue() == ""  # not a terminal: no progress line


class _CancelOnCheck(CancelToken):
    """Cancels itself at the n-th check (the runner checks before every tile)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.checks = 0

    def raise_if_cancelled(self) -> None:
        self.checks += 1
        if self.checks >= self.n:
            self.cancel()
        super().raise_if_cancelled()


def test_process_one_cancels_between_tiles_and_writes_nothing(registry: Path, photos: Path, tmp_path: Path) -> None:
    """What a Ray task runs: cancelled mid-chain -> 'cancelled', before start -> 'not-started'."""
    from engine.batch.provenance import build_recipe
    from engine.batch.stages import process_one

    out = tmp_path / "out"
    job = BatchJob(photos, out, TINY, options=RunOptions(tile=8))
    recipe = build_recipe(job)
    token = _CancelOnCheck(3)
    outcome = process_one(job, photos / "a.png", out / "a.png", recipe, cancel=token)
    assert outcome.status == CANCELLED and token.checks == 3
    assert not out.exists() or list_files(out) == []
    assert process_one(job, photos / "b.png", out / "b.png", recipe, cancel=token).status == NOT_STARTED
    assert process_one(job, photos / "b.png", out / "b.png", recipe).status == DONE
