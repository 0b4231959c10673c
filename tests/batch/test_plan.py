"""Planning: walk order, mirrored names, templates and refusal to clobber inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.batch import BatchJob, FilterStep, plan_batch
from engine.batch.naming import check_template
from engine.core.errors import ParameterError
from tests.batch.conftest import photo, write_png

STEP = (FilterStep("tiny", {}),)


def test_plan_mirrors_tree_in_sorted_order(photos: Path, tmp_path: Path) -> None:
    (photos / "notes.txt").write_text("not an image")
    (photos / ".hidden.png").write_bytes(b"x")
    out = tmp_path / "out"
    pairs = plan_batch(BatchJob(photos, out, STEP))
    assert pairs == [
        (photos / "a.png", out / "a.png"),
        (photos / "b.png", out / "b.png"),
        (photos / "sub" / "c.png", out / "sub" / "c.png"),
    ]
    assert not out.exists()  # planning writes nothing


def test_plan_non_recursive_template_and_format(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    job = BatchJob(photos, out, STEP, recursive=False, output_format="jpg", name_template="{stem}_{plugin}_{index}{ext}")
    assert job.output_format == "jpeg"
    assert plan_batch(job) == [(photos / "a.png", out / "a_tiny_1.jpg"), (photos / "b.png", out / "b_tiny_2.jpg")]


def test_output_equal_to_input_is_refused_without_overwrite(photos: Path) -> None:
    with pytest.raises(ParameterError, match="would replace the input .*--overwrite"):
        plan_batch(BatchJob(photos, photos, STEP))
    assert len(plan_batch(BatchJob(photos, photos, STEP, overwrite=True))) == 3
    # a different name in the same folder is fine and never picks up earlier outputs with sidecars
    job = BatchJob(photos, photos, STEP, name_template="{stem}_x{ext}")
    assert [o.name for _, o in plan_batch(job)] == ["a_x.png", "b_x.png", "c_x.png"]


def test_two_inputs_to_one_output_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "in"
    write_png(src / "a.png", photo(1))
    (src / "a.jpg").write_bytes((src / "a.png").read_bytes())
    with pytest.raises(ParameterError, match=r"\{srcext\}"):
        plan_batch(BatchJob(src, tmp_path / "out", STEP, output_format="png"))
    pairs = plan_batch(BatchJob(src, tmp_path / "out", STEP, output_format="png", name_template="{stem}_{srcext}{ext}"))
    assert [o.name for _, o in pairs] == ["a_jpg.png", "a_png.png"]


def test_output_folder_inside_input_is_not_walked(photos: Path) -> None:
    out = photos / "results"
    write_png(out / "old.png", photo(9))
    pairs = plan_batch(BatchJob(photos, out, STEP))
    assert [s.name for s, _ in pairs] == ["a.png", "b.png", "c.png"]


@pytest.mark.parametrize("template, message", [
    ("{stem}{nope}", "unknown field '{nope}'"),
    ("{stem", "malformed"),
    ("sub/{stem}{ext}", "not a path"),
])
def test_bad_templates(template: str, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        check_template(template)


def test_job_validation(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="at least one filter"):
        BatchJob(tmp_path, tmp_path / "o", ())
    with pytest.raises(ParameterError, match="png, jpeg, tiff, webp"):
        BatchJob(tmp_path, tmp_path / "o", STEP, output_format="gif")
    with pytest.raises(ParameterError, match="does not exist"):
        plan_batch(BatchJob(tmp_path / "missing", tmp_path / "o", STEP))
