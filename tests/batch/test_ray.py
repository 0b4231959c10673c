"""The Ray executor gives the same outputs, report and resume semantics as the local one."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import engine.api
from engine.batch import BatchJob, FilterStep, run_batch
from engine.batch.provenance import sidecar_path
from engine.core.types import RunOptions
from tests.batch.conftest import list_files, photo, write_png
from tests.plugin_factory import write_tiny_plugin

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_plugins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """ONE local Ray instance for the module (start-up is slow), workers see the tiny plugin."""
    folder = tmp_path_factory.mktemp("ray-plugins")
    write_tiny_plugin(folder, "tiny")
    write_tiny_plugin(folder, "slow", kind="slow", sleep=0.1)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"CLARITY_PLUGIN_PATH": str(folder), "PYTHONPATH": str(REPO)}},
    )
    try:
        yield folder
    finally:
        ray.shutdown()


def _rows(report_path: Path, root: Path) -> list[tuple[str, str, str]]:
    data = json.loads(report_path.read_text())
    return [(f["source"], str(Path(f["output"]).relative_to(root)), f["status"]) for f in data["files"]]


def test_ray_matches_local_and_resumes(ray_plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLARITY_PLUGIN_PATH", str(ray_plugins))
    monkeypatch.setattr(engine.api, "_default_registry", None)
    src = tmp_path / "in"
    for i, name in enumerate(["a.png", "b.png", "sub/c.png"]):
        write_png(src / name, photo(i))
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    steps = (FilterStep("tiny", {"amount": "0.5"}),)

    local = run_batch(BatchJob(src, tmp_path / "local", steps))
    remote = run_batch(BatchJob(src, tmp_path / "ray", steps), executor="ray")

    def same(error: str) -> str:
        # the decoder's own detail in parentheses (object addresses, which Pillow plugin gave
        # up first) depends on the process's history; the user-facing reason must match
        return re.sub(r" \(.*\)$", "", error)

    assert [(o.source, o.status, same(o.error)) for o in remote.outcomes] == [
        (o.source, o.status, same(o.error)) for o in local.outcomes]
    assert remote.outcomes[2].error.startswith("cannot read") and remote.outcomes[2].source.name == "broken.png"
    assert _rows(remote.json_path, tmp_path / "ray") == _rows(local.json_path, tmp_path / "local")
    assert json.loads(remote.json_path.read_text())["executor"] == "ray"
    assert list_files(tmp_path / "ray") == list_files(tmp_path / "local")
    from engine.io import read_image

    for name in ("a.png", "b.png", "sub/c.png"):
        # same pixels up to one quantisation level: torch's float summation order depends on its
        # thread count, which differs between this process and a Ray worker (OMP_NUM_THREADS=1)
        a, b = read_image(tmp_path / "local" / name).pixels, read_image(tmp_path / "ray" / name).pixels
        assert a.shape == b.shape and np.abs(a - b).max() <= 1 / 255 + 1e-6, name
        assert (np.abs(a - b) > 0).mean() < 0.01, name
    assert (remote.done, remote.failed) == (3, 1)

    # resume across executors: the local outputs are complete for a Ray run and vice versa
    again = run_batch(BatchJob(src, tmp_path / "local", steps), executor="ray")
    assert {o.source.name: o.status for o in again.outcomes} == {
        "a.png": "skipped-complete", "b.png": "skipped-complete", "broken.png": "failed", "c.png": "skipped-complete"}


def test_ray_cancel_reports_where_it_stopped(ray_plugins: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.batch import BatchProgress
    from engine.cancel import CancelToken
    from tests.batch.conftest import temp_files

    monkeypatch.setenv("CLARITY_PLUGIN_PATH", str(ray_plugins))
    monkeypatch.setattr(engine.api, "_default_registry", None)
    src = tmp_path / "in"
    for i in range(6):
        write_png(src / f"p{i}.png", photo(i))
    token = CancelToken()

    def on_progress(p: BatchProgress) -> None:
        if p.done >= 1:
            token.cancel()

    out = tmp_path / "out"
    job = BatchJob(src, out, (FilterStep("slow", {}),), options=RunOptions(tile=8))  # 12 tiles of 0.1 s per file
    report = run_batch(job, executor="ray", progress=on_progress, cancel=token)
    st = [o.status for o in report.outcomes]
    assert report.cancelled and not report.ok
    # tasks finish in any order: running files stop after their current tile, queued ones never start
    assert 1 <= st.count("done") < 6 and st.count("cancelled") + st.count("not-started") >= 1
    assert set(st) <= {"done", "cancelled", "not-started"}
    unfinished = [o for o in report.outcomes if o.status != "done"]
    expected_stop = next((o for o in unfinished if o.status == "cancelled"), unfinished[0])
    assert report.stopped_at == expected_stop.source
    for o in report.outcomes:
        assert o.output.exists() == (o.status == "done")
        assert sidecar_path(o.output).exists() == (o.status == "done")
    assert temp_files(out) == []
    assert json.loads(report.json_path.read_text())["summary"]["cancelled"] is True
