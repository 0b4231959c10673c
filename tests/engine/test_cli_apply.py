"""``clarity apply`` end to end on real files, and the terminal progress bar."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import engine.api
from engine.cli.main import main
from engine.cli.progress import TerminalProgress
from engine.core.types import Progress
from tests.plugin_factory import AUTO_LEVEL_TOML, write_tiny_plugin


@pytest.fixture
def user_plugins(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's user plugin folder, holding a tiny denoiser and a tiny x2 upscaler; fresh registry."""
    folder = Path(os.environ["CLARITY_PLUGIN_PATH"])
    write_tiny_plugin(folder, "tiny-dn")
    write_tiny_plugin(folder, "tiny-sr", kind="sr", scale=2, task="super-resolution")
    monkeypatch.setattr(engine.api, "_default_registry", None)
    return folder


@pytest.fixture
def photo(tmp_path: Path, small_rgb: np.ndarray) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(np.round(small_rgb * 255).astype(np.uint8), "RGB").save(path)
    return path


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(np.int32)


def expected_8bit(path: Path, plugin: str, **kw: object) -> np.ndarray:
    from engine.api import apply_filter
    from engine.io import read_image

    result = apply_filter(read_image(path).pixels, plugin, **kw)
    return np.round(np.clip(result.image, 0, 1) * 255).astype(np.int32)


def test_apply_writes_the_filtered_image(user_plugins: Path, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.png"
    code = main(["apply", str(photo), str(out), "--filter", "tiny-dn", "--param", "amount=0.5", "--device", "cpu",
                 "--tile", "16", "--overlap", "4"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    got = pixels(out)
    assert got.shape == (37, 53, 3)
    want = expected_8bit(photo, "tiny-dn", params={"amount": 0.5})
    assert np.abs(got - want).max() <= 1
    assert np.abs(got - pixels(photo)).mean() > 1  # it really filtered
    assert "out.png: 53x37, tiny-dn on cpu (fp32, torch), 12 tile(s)" in capsys.readouterr().out


def test_apply_with_self_ensemble(user_plugins: Path, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.core.types import RunOptions

    out = tmp_path / "out.png"
    code = main(["apply", str(photo), str(out), "--filter", "tiny-dn", "--device", "cpu", "--ensemble", "8"])
    assert code == 0, capsys.readouterr().err
    assert "tiny-dn on cpu (fp32, torch), 1 tile(s) x 8 ensemble passes" in capsys.readouterr().out
    want = expected_8bit(photo, "tiny-dn", options=RunOptions(device="cpu", ensemble=8))
    assert np.abs(pixels(out) - want).max() <= 1
    assert np.abs(pixels(out) - expected_8bit(photo, "tiny-dn")).max() > 1  # 8 passes are not one
    with pytest.raises(SystemExit) as stop:
        main(["apply", str(photo), str(tmp_path / "x.png"), "--filter", "tiny-dn", "--ensemble", "3"])
    assert stop.value.code == 2
    assert "invalid choice: '3'" in capsys.readouterr().err


def test_apply_with_the_onnx_backend(user_plugins: Path, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.png"
    code = main(["apply", str(photo), str(out), "--filter", "tiny-sr", "--device", "cpu", "--tile", "16",
                 "--backend", "onnx"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert "tiny-sr on cpu (fp32, onnx), 12 tile(s)" in capsys.readouterr().out
    assert np.abs(pixels(out) - expected_8bit(photo, "tiny-sr")).max() <= 1
    code = main(["apply", str(photo), str(tmp_path / "gpu.png"), "--filter", "tiny-sr", "--device", "cuda",
                 "--backend", "onnx"])  # fmt: skip
    assert code != 0 and "--device cpu" in capsys.readouterr().err  # no CUDA here, or onnx refused on the GPU


def test_apply_reports_the_values_resolved_on_the_whole_image(
    user_plugins: Path, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tiny_plugin(user_plugins, "tiny-auto", extra_toml=AUTO_LEVEL_TOML)
    from engine.io import read_image

    level = round(float(read_image(photo).pixels.mean()) * 100.0, 3)
    assert engine.api.analyse_filter(read_image(photo).pixels, "tiny-auto") == {"level": level}
    assert engine.api.analyse_filter(read_image(photo).pixels, "tiny-auto", {"level": "7"}) == {}
    code = main(["apply", str(photo), str(tmp_path / "a.png"), "--filter", "tiny-auto", "--device", "cpu",
                 "--tile", "16", "--region", "0,0,10,10"])  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out.strip().endswith(f"; tiny-auto resolved level={level:.1f}")
    code = main(["apply", str(photo), str(tmp_path / "b.png"), "--filter", "tiny-auto", "--param", "level=7"])
    assert code == 0 and "resolved" not in capsys.readouterr().out


def test_refuses_existing_output_unless_overwrite(user_plugins: Path, photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    assert main(["apply", str(photo), str(out), "--filter", "tiny-dn"]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err and err.count("\n") == 1
    assert out.read_bytes() == b"keep me"
    assert main(["apply", str(photo), str(out), "--filter", "tiny-dn", "--overwrite"]) == 0
    assert pixels(out).shape == (37, 53, 3)


def test_never_writes_onto_the_input(user_plugins: Path, photo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = photo.read_bytes()
    same = photo.parent / "." / photo.name
    assert main(["apply", str(photo), str(same), "--filter", "tiny-dn", "--overwrite"]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert photo.read_bytes() == before


def test_region_leaves_the_rest_untouched(user_plugins: Path, photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "region.png"
    assert main(["apply", str(photo), str(out), "-f", "tiny-dn", "--region", "10,5,20,12", "--strength", "50"]) == 0
    got, orig = pixels(out), pixels(photo)
    inside = np.zeros((37, 53), bool)
    inside[5:17, 10:30] = True
    assert np.array_equal(got[~inside], orig[~inside])
    full = expected_8bit(photo, "tiny-dn")
    assert np.abs(got[inside] - (orig[inside] + full[inside]) / 2).max() <= 1.0


def test_mask_file(user_plugins: Path, photo: Path, tmp_path: Path) -> None:
    mask = np.zeros((37, 53), np.uint8)
    mask[20:, :15] = 255
    Image.fromarray(mask, "L").save(tmp_path / "mask.png")
    out = tmp_path / "masked.png"
    assert main(["apply", str(photo), str(out), "-f", "tiny-dn", "--mask", str(tmp_path / "mask.png")]) == 0
    got, orig, full = pixels(out), pixels(photo), expected_8bit(photo, "tiny-dn")
    on = mask > 0
    assert np.array_equal(got[~on], orig[~on]) and np.abs(got[on] - full[on]).max() <= 1


def test_alpha_is_kept_and_sr_region_is_upscaled(user_plugins: Path, tmp_path: Path, small_rgb: np.ndarray) -> None:
    rgba = np.dstack([np.round(small_rgb * 255), np.linspace(0, 255, 53)[None, :].repeat(37, 0)]).astype(np.uint8)
    src = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(src)
    out = tmp_path / "same.png"
    assert main(["apply", str(src), str(out), "-f", "tiny-dn"]) == 0
    assert np.array_equal(pixels(out)[..., 3], rgba[..., 3].astype(np.int32))
    up = tmp_path / "up.png"
    assert main(["apply", str(src), str(up), "-f", "tiny-sr", "--region", "4,6,20,10"]) == 0
    got = pixels(up)
    assert got.shape == (20, 40, 4)
    # alpha is a horizontal ramp: cropped to x 4..24 then upscaled
    assert abs(got[10, 0, 3] - rgba[0, 4, 3]) <= 4 and abs(got[10, -1, 3] - rgba[0, 23, 3]) <= 4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-f", "nope"], "unknown filter 'nope'"),
        (["-f", "tiny-dn", "--param", "amount=9"], "amount"),
        (["-f", "tiny-dn", "--param", "amount"], "NAME=VALUE"),
        (["-f", "tiny-dn", "--strength", "150"], "outside 0-100"),
        (["-f", "tiny-dn", "--region", "1,2,3"], "X,Y,W,H"),
        (["-f", "tiny-dn", "--device", "cpu", "--precision", "fp16"], "--precision fp32"),
        (["-f", "tiny-dn", "--tile", "-4"], "negative"),
        pytest.param(["-f", "tiny-dn", "--device", "cuda"], "--device cpu or auto",
                     marks=pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")),
    ],
)
def test_user_mistakes_are_one_line_errors(user_plugins: Path, photo: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:  # fmt: skip
    out = tmp_path / "never.png"
    assert main(["apply", str(photo), str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("clarity: error:") and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_missing_input(user_plugins: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apply", str(tmp_path / "nothing.png"), str(tmp_path / "o.png"), "-f", "tiny-dn"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_progress_bar_draws_only_on_a_terminal() -> None:
    quiet = TerminalProgress("x", stream=io.StringIO())
    assert quiet.callback is None
    stream = io.StringIO()
    with TerminalProgress("denoise", stream=stream, force=True, width=40) as bar:
        assert bar.callback is not None
        bar.callback(Progress(1, 4))
        bar.callback(Progress(4, 4))
    text = stream.getvalue()
    assert text.endswith("\n") and text.count("\r") == 2
    last = text.split("\r")[-1].rstrip("\n")
    assert last.startswith("denoise [") and "100%  4/4" in last and len(last) <= 39
    assert "25%  1/4" in text.split("\r")[1]


@pytest.mark.parametrize(
    ("argv", "prog", "unknown"),
    [
        (["apply", "-f", "tiny-dn", "in.png", "out.png", "-o", "x.png"], "clarity apply", "-o x.png"),
        (["plugin", "hash", "somewhere", "--zzz"], "clarity plugin hash", "--zzz"),
        (["--zzz"], "clarity", "--zzz"),
    ],
)
def test_unknown_option_is_reported_with_its_subcommands_usage(
    argv: list[str], prog: str, unknown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    lines = capsys.readouterr().err.splitlines()
    assert stop.value.code == 2
    assert lines[0].startswith(f"usage: {prog} ")
    assert lines[-1] == f"{prog}: error: unrecognized arguments: {unknown}"
