"""Image folder loading and the random crop sampler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.core.errors import ClarityError
from engine.core.imresize import imresize_uint8
from engine.training.data import CropSampler, list_images, load_images, read_uint8, with_rescaled_copies


def _write(folder: Path, rng: np.random.Generator) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(folder / "b.png")
    Image.fromarray(rng.integers(0, 256, (18, 17), dtype=np.uint8)).save(folder / "a.png")
    (folder / "notes.txt").write_text("not an image")


def test_list_and_load(tmp_path: Path, rng: np.random.Generator) -> None:
    _write(tmp_path / "d", rng)
    assert [p.name for p in list_images(tmp_path / "d")] == ["a.png", "b.png"]
    color = load_images([tmp_path / "d"], gray=False)
    assert [tuple(t.shape) for t in color] == [(3, 18, 17), (3, 20, 24)]
    assert all(t.dtype == torch.uint8 for t in color)
    gray = load_images(tmp_path / "d", gray=True)
    assert [tuple(t.shape) for t in gray] == [(1, 18, 17), (1, 20, 24)]
    assert read_uint8(tmp_path / "d" / "a.png").shape == (18, 17, 1)  # gray stays gray by default
    raw = np.asarray(Image.open(tmp_path / "d" / "b.png"))
    np.testing.assert_array_equal(color[1].permute(1, 2, 0).numpy(), raw)


def test_missing_folder_and_empty(tmp_path: Path) -> None:
    with pytest.raises(ClarityError, match="does not exist"):
        list_images(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ClarityError, match="no images"):
        list_images(tmp_path / "empty")


def _transforms(img: torch.Tensor) -> list[torch.Tensor]:
    out = []
    for flip in (False, True):
        base = img.flip(-1) if flip else img
        out += [torch.rot90(base, k, dims=(-2, -1)) for k in range(4)]
    return out


def test_crops_are_augmented_copies_and_deterministic() -> None:
    img = torch.arange(25, dtype=torch.uint8).reshape(1, 5, 5) * 10
    sampler = CropSampler([img], patch=5, batch=64, device="cpu", seed=3)
    batch = sampler.next()
    assert batch.shape == (64, 1, 5, 5) and batch.dtype == torch.float32
    variants = [t.float() / 255.0 for t in _transforms(img)]
    seen = set()
    for crop in batch:
        matches = [k for k, v in enumerate(variants) if torch.equal(crop, v)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(range(8))
    again = CropSampler([img], patch=5, batch=64, device="cpu", seed=3).next()
    assert torch.equal(batch, again)
    other = CropSampler([img], patch=5, batch=64, device="cpu", seed=4).next()
    assert not torch.equal(batch, other)


def test_crop_positions_cover_image() -> None:
    img = torch.arange(64, dtype=torch.uint8).reshape(1, 8, 8)
    crops = CropSampler([img], patch=2, batch=400, device="cpu", seed=0).next()
    # every 2x2 crop contains its minimum at some position; all 49 top-left corners should appear
    minima = {int(round(float(c.min()) * 255)) for c in crops}
    assert len(minima) == 49


def test_sampler_errors() -> None:
    img = torch.zeros(3, 10, 10, dtype=torch.uint8)
    with pytest.raises(ClarityError, match="smaller than"):
        CropSampler([img], patch=11, batch=2)
    with pytest.raises(ClarityError, match="channel counts"):
        CropSampler([img, torch.zeros(1, 10, 10, dtype=torch.uint8)], patch=4, batch=2)
    with pytest.raises(ClarityError):
        CropSampler([], patch=4, batch=2)


def test_rescaled_copies_follow_the_originals_scale_by_scale(rng: np.random.Generator) -> None:
    color = torch.from_numpy(rng.integers(0, 256, (3, 40, 30), dtype=np.uint8))
    gray = torch.from_numpy(rng.integers(0, 256, (1, 21, 50), dtype=np.uint8))
    out = with_rescaled_copies([color, gray], [1.0, 0.5], patch=10)
    assert [tuple(t.shape) for t in out] == [(3, 40, 30), (1, 21, 50), (3, 20, 15), (1, 11, 25)]
    assert out[0] is color and out[1] is gray  # scale 1 keeps the originals untouched
    assert all(t.dtype == torch.uint8 for t in out)
    np.testing.assert_array_equal(out[2].numpy().transpose(1, 2, 0), imresize_uint8(color.numpy().transpose(1, 2, 0), 0.5))
    np.testing.assert_array_equal(out[3].numpy()[0], imresize_uint8(gray.numpy()[0], 0.5))


def test_rescaled_copies_refuse_a_copy_smaller_than_the_patch(rng: np.random.Generator) -> None:
    im = torch.from_numpy(rng.integers(0, 256, (3, 40, 30), dtype=np.uint8))
    with pytest.raises(ClarityError, match=r"rescale factor 0.5 makes a \(40, 30\) training image \(20, 15\), smaller than the 16px patch"):
        with_rescaled_copies([im], [1.0, 0.5], patch=16)
    with pytest.raises(ClarityError, match="outside"):
        with_rescaled_copies([im], [0.0], patch=8)
