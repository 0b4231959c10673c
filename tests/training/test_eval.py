"""The evaluation protocol (injected methods, a real tiny plugin) and the ``clarity eval`` CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli.main import main
from engine.core.errors import ClarityError
from engine.core.imresize import imresize_np, imresize_uint8
from engine.training.evaluate import evaluate, method_restore, pair_files
from engine.training.metrics import psnr, rgb_to_y, shave
from tests.plugin_factory import write_tiny_plugin


def _images(folder: Path, rng: np.random.Generator, count: int = 3, size: tuple[int, int] = (26, 31)) -> list[np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    imgs = []
    yy, xx = np.mgrid[0 : size[0], 0 : size[1]]
    for i in range(count):
        base = np.stack([xx * 6, yy * 7, (xx + yy) * 3 + 40 * i], axis=-1)
        img = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"img{i}.png")
        imgs.append(img)
    return imgs


def _identity(image: np.ndarray, scale: int) -> np.ndarray:
    assert scale == 1
    return image


def test_awgn_protocol_noise_fresh_per_image(tmp_path: Path, rng: np.random.Generator) -> None:
    imgs = _images(tmp_path / "d", rng)
    report = evaluate(_identity, method="id", data=tmp_path / "d", degrade="awgn:25", seed=3)
    assert [s.name for s in report.images] == ["img0", "img1", "img2"]
    for img, score in zip(imgs, report.images):
        clean = img.astype(np.float64)
        noisy = clean + np.random.default_rng(3).standard_normal(clean.shape) * 25.0
        expect = psnr(np.clip(noisy, 0, 255), clean)
        assert score.baseline_psnr == pytest.approx(expect, abs=1e-9)
        assert score.psnr == pytest.approx(expect, abs=1e-6)  # the method sees float32
    assert report.metric_space == "rgb" and report.shave == 0 and report.scale == 1
    assert report.mean_psnr == pytest.approx(np.mean([s.psnr for s in report.images]))


def test_awgn_perfect_method_and_output_not_quantised(tmp_path: Path, rng: np.random.Generator) -> None:
    imgs = _images(tmp_path / "d", rng, count=1)
    clean = imgs[0].astype(np.float32) / 255.0

    def half_way(image: np.ndarray, scale: int) -> np.ndarray:
        return (image + clean) / 2  # halves the noise: +6.02 dB before clipping effects

    report = evaluate(half_way, method="half", data=tmp_path / "d", degrade="awgn:15")
    s = report.images[0]
    assert s.psnr - s.baseline_psnr == pytest.approx(20 * math.log10(2), abs=0.35)


def test_metric_space_names_gray_and_mixed_sets(tmp_path: Path, rng: np.random.Generator) -> None:
    colour = _images(tmp_path / "mixed", rng, count=2)
    Image.fromarray(colour[0][..., 0]).save(tmp_path / "mixed" / "img9.png")  # one gray file beside two colour ones
    (tmp_path / "gray").mkdir()
    Image.fromarray(colour[1][..., 1]).save(tmp_path / "gray" / "g.png")

    def space(folder: str, degrade: str = "awgn:25", gray: bool | None = None) -> str:
        restore = _identity if degrade.startswith("awgn") else (lambda im, s: imresize_np(np.round(im * 255), s) / 255.0)
        return evaluate(restore, method="m", data=tmp_path / folder, degrade=degrade, gray=gray).metric_space

    assert space("gray") == "gray"
    assert space("mixed") == "rgb+gray"
    assert space("mixed", gray=True) == "gray"
    assert space("mixed", gray=False) == "rgb"
    assert space("gray", degrade="bicubic:2") == "y"  # a gray image's luma is itself


def test_sr_protocol_y_shave_and_crop(tmp_path: Path, rng: np.random.Generator) -> None:
    imgs = _images(tmp_path / "d", rng, count=2, size=(27, 34))

    def bicubic(image: np.ndarray, scale: int) -> np.ndarray:
        return imresize_np(np.round(image * 255), scale) / 255.0

    report = evaluate(bicubic, method="bic", data=tmp_path / "d", degrade="bicubic:3")
    assert report.scale == 3 and report.metric_space == "y" and report.shave == 3
    hr = imgs[0][:27, :33]
    lr = imresize_uint8(hr, 1 / 3)
    sr = np.clip(np.round(imresize_np(lr, 3)), 0, 255)
    expect = psnr(shave(rgb_to_y(sr), 3), shave(rgb_to_y(hr), 3))
    assert report.images[0].psnr == pytest.approx(expect, abs=1e-9)
    assert report.images[0].baseline_psnr == pytest.approx(expect, abs=1e-9)


def test_wrong_output_shape_and_bad_degrade(tmp_path: Path, rng: np.random.Generator) -> None:
    _images(tmp_path / "d", rng, count=1)
    with pytest.raises(ClarityError, match="expected"):
        evaluate(lambda im, s: im[:-1], method="bad", data=tmp_path / "d", degrade="none")
    with pytest.raises(ClarityError, match="fixed sigma"):
        evaluate(_identity, method="x", data=tmp_path / "d", degrade="awgn:0-50")
    with pytest.raises(ClarityError):
        evaluate(_identity, method="x", data=tmp_path / "d", degrade="blur")


def test_synthetic_weather_is_seeded(tmp_path: Path, rng: np.random.Generator) -> None:
    _images(tmp_path / "d", rng, count=2, size=(32, 32))
    a = evaluate(_identity, method="id", data=tmp_path / "d", degrade="rain", seed=1)
    b = evaluate(_identity, method="id", data=tmp_path / "d", degrade="rain", seed=1)
    assert a.mean_psnr == b.mean_psnr and math.isfinite(a.mean_psnr) and a.mean_psnr < 40


def test_synthetic_spec_argument_reaches_the_synthesis(tmp_path: Path, rng: np.random.Generator) -> None:
    """``camera:grain`` was once evaluated as plain ``camera`` (the argument was dropped)."""
    _images(tmp_path / "d", rng, count=4, size=(48, 48))
    fine = evaluate(_identity, method="id", data=tmp_path / "d", degrade="camera", seed=0)
    grain = evaluate(_identity, method="id", data=tmp_path / "d", degrade="camera:grain", seed=0)
    assert [s.psnr for s in fine.images] != [s.psnr for s in grain.images]
    with pytest.raises(ClarityError):
        evaluate(_identity, method="x", data=tmp_path / "d", degrade="camera:nope")


def test_synthesis_that_changes_the_target_is_scored_against_it() -> None:
    """camera:mixed turns some images into gray scans: their target is the gray image, not the colour original."""
    from engine.training.evaluate import synthesize_uint8

    clean = np.zeros((32, 32, 3), np.uint8)
    clean[..., 0], clean[..., 1], clean[..., 2] = 200, 100, 30
    targets = [synthesize_uint8(clean, "camera:mixed", seed)[1] for seed in range(12)]
    gray = [t for t in targets if not np.array_equal(t, clean)]
    assert 0 < len(gray) < 12  # a quarter of the images, in expectation
    assert all(int(t.max()) == int(t.min()) == round(0.299 * 200 + 0.587 * 100 + 0.114 * 30) for t in gray)
    assert all(synthesize_uint8(clean, "camera", seed)[1] is clean for seed in range(3))


def test_pairs_mode(tmp_path: Path, rng: np.random.Generator) -> None:
    targets = _images(tmp_path / "t", rng, count=2)
    (tmp_path / "i").mkdir()
    for k, img in enumerate(targets):
        noisy = np.clip(img.astype(int) + 10, 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(tmp_path / "i" / f"img{k}.png")
    report = evaluate(_identity, method="id", pairs=(tmp_path / "i", tmp_path / "t"))
    for k, s in enumerate(report.images):
        expect = psnr(np.clip(targets[k].astype(int) + 10, 0, 255), targets[k])
        assert s.psnr == pytest.approx(expect, abs=1e-9)
    Image.fromarray(targets[0]).save(tmp_path / "i" / "extra.png")
    with pytest.raises(ClarityError, match="no partner"):
        pair_files(tmp_path / "i", tmp_path / "t")


def test_cli_eval_json_and_save(tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]) -> None:
    _images(tmp_path / "d", rng)
    code = main(["eval", "--filter", "baseline:identity", "--data", str(tmp_path / "d"), "--degrade", "awgn:25",
                 "--json", "--limit", "2", "--save", str(tmp_path / "out")])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["images"]) == 2 and data["degrade"] == "awgn:25"
    assert data["mean"]["psnr"] == pytest.approx(data["mean"]["baseline_psnr"])
    assert 20.0 < data["mean"]["psnr"] < 21.0  # sigma 25 -> about 20.2 dB (a little higher: clipping)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["img0.png", "img1.png"]


def test_cli_eval_table_and_errors(tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]) -> None:
    _images(tmp_path / "d", rng, count=2, size=(24, 24))
    assert main(["eval", "--filter", "baseline:bicubic", "--data", str(tmp_path / "d"), "--degrade", "bicubic:2"]) == 0
    out = capsys.readouterr().out
    assert "mean" in out and "(bicubic:2, 2 images, Y, shave 2)" in out
    assert main(["eval", "--filter", "baseline:identity", "--data", str(tmp_path / "d"), "--degrade", "awgn:5", "--channels", "gray"]) == 0
    assert "(awgn:5, 2 images, gray, shave 0)" in capsys.readouterr().out
    assert main(["eval", "--filter", "baseline:nope", "--data", str(tmp_path / "d")]) == 2
    assert "unknown baseline" in capsys.readouterr().err
    assert main(["eval", "--filter", "baseline:identity", "--data", str(tmp_path / "missing")]) == 2


def test_plugin_through_apply_filter(tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.api

    plugins = tmp_path / "plugins"
    write_tiny_plugin(plugins, "tiny-eval")
    monkeypatch.setenv("CLARITY_PLUGIN_PATH", str(plugins))
    monkeypatch.setattr(engine.api, "_default_registry", None)
    _images(tmp_path / "d", rng, count=2, size=(20, 22))
    zero = evaluate(method_restore("tiny-eval", {"amount": "0"}, device="cpu"), method="tiny-eval",
                    data=tmp_path / "d", degrade="awgn:25")
    for s in zero.images:  # amount 0: the tiny net returns its input
        assert s.psnr == pytest.approx(s.baseline_psnr, abs=1e-3)
    full = evaluate(method_restore("tiny-eval", {}, device="cpu"), method="tiny-eval", data=tmp_path / "d", degrade="awgn:25")
    assert all(abs(s.psnr - s.baseline_psnr) > 1e-3 for s in full.images)
    with pytest.raises(ClarityError):
        method_restore("baseline:dcp", {"x": "1"})
    with pytest.raises(ClarityError, match="takes no --ensemble"):
        method_restore("baseline:identity", ensemble=8)
    ensembled = evaluate(method_restore("tiny-eval", {}, device="cpu", ensemble=8), method="tiny-eval",
                         data=tmp_path / "d", degrade="awgn:25")
    assert [s.psnr for s in ensembled.images] != pytest.approx([s.psnr for s in full.images], abs=1e-3)


def test_sr_plugin_through_apply_filter(tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    import engine.api

    plugins = tmp_path / "plugins"
    write_tiny_plugin(plugins, "tiny-sr", kind="sr", task="super-resolution", scale=2)
    monkeypatch.setenv("CLARITY_PLUGIN_PATH", str(plugins))
    monkeypatch.setattr(engine.api, "_default_registry", None)
    _images(tmp_path / "d", rng, count=2, size=(28, 30))
    code = main(["eval", "--filter", "tiny-sr", "--data", str(tmp_path / "d"), "--degrade", "bicubic:2", "--device", "cpu", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["scale"] == 2 and data["metric_space"] == "y" and len(data["images"]) == 2
    assert all(math.isfinite(s["psnr"]) and s["psnr"] != s["baseline_psnr"] for s in data["images"])
    assert main(["eval", "--filter", "tiny-sr", "--data", str(tmp_path / "d"), "--degrade", "bicubic:3", "--device", "cpu"]) == 2
    assert "x3" in capsys.readouterr().err
