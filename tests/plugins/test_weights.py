"""Weights: sha256 before reading, safetensors only (pickles refused, never unpickled)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from engine.core.errors import WeightsError
from engine.core.hashing import sha256_file, sha256_file_cached
from plugins.api import WeightsStatus
from plugins.manifest import load_manifest
from plugins.weights import cache_dir, check_weights, load_weights, write_safetensors
from tests.plugin_factory import sha256_of, tiny_state_dict, write_tiny_plugin


class _Trap:
    """Unpickling this writes a marker file: proves a loader unpickled it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path(self.marker).write_text, ("unpickled!",))


def _set_sha(folder: Path, sha: str) -> None:
    path = folder / "plugin.toml"
    text = path.read_text()
    start = text.index('sha256 = "') + len('sha256 = "')
    path.write_text(text[:start] + sha + text[text.index('"', start):])


def test_sha256_file_matches_hashlib_and_is_cached(tmp_path: Path) -> None:
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")
    assert sha256_file(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_file_cached(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    f.write_bytes(b"abcd")  # size changes -> new hash
    assert sha256_file_cached(f) == sha256_of(f) == sha256_file(f)


def test_ok_weights_load_as_tensors(plugin_dir: Path) -> None:
    import torch

    m = load_manifest(write_tiny_plugin(plugin_dir))
    assert check_weights(m) == (WeightsStatus.OK, "")
    bundle = load_weights(m)
    assert list(bundle) == ["main"]
    expected = tiny_state_dict()
    assert set(bundle["main"]) == set(expected)
    for key, value in expected.items():
        assert torch.equal(bundle["main"][key], value)


def test_missing_untrained_weights(plugin_dir: Path) -> None:
    folder = write_tiny_plugin(plugin_dir)
    (folder / "weights.safetensors").unlink()
    _set_sha(folder, "")
    m = load_manifest(folder)
    assert check_weights(m) == (WeightsStatus.MISSING, "weights not trained yet")
    with pytest.raises(WeightsError, match="plugin 'tiny': weights not trained yet"):
        load_weights(m)


def test_missing_file_with_hash_says_where(plugin_dir: Path) -> None:
    folder = write_tiny_plugin(plugin_dir)
    (folder / "weights.safetensors").unlink()
    status, reason = check_weights(load_manifest(folder))
    assert status is WeightsStatus.MISSING
    assert f"weights file weights.safetensors not found in {folder}" in reason


def test_hash_mismatch_reports_prefixes_and_never_reads(plugin_dir: Path) -> None:
    folder = write_tiny_plugin(plugin_dir, sha256="0" * 64)
    actual = sha256_of(folder / "weights.safetensors")
    m = load_manifest(folder)
    status, reason = check_weights(m)
    assert status is WeightsStatus.HASH_MISMATCH
    assert f"sha256 {actual[:12]}... does not match expected {'0' * 12}..." in reason
    with pytest.raises(WeightsError, match="does not match expected"):
        load_weights(m)


def test_existing_file_without_sha_is_a_mismatch(plugin_dir: Path) -> None:
    folder = write_tiny_plugin(plugin_dir)
    _set_sha(folder, "")
    status, reason = check_weights(load_manifest(folder))
    assert status is WeightsStatus.HASH_MISMATCH
    assert sha256_of(folder / "weights.safetensors") in reason


@pytest.mark.parametrize("fmt", ["pickle", "torch-zip", "garbage"])
def test_non_safetensors_bytes_are_refused_and_never_unpickled(plugin_dir: Path, tmp_path: Path, fmt: str) -> None:
    import torch

    folder = write_tiny_plugin(plugin_dir)
    weights = folder / "weights.safetensors"
    marker = tmp_path / "marker.txt"
    if fmt == "pickle":
        weights.write_bytes(pickle.dumps({"w": _Trap(str(marker))}))
    elif fmt == "torch-zip":
        torch.save({"w": _Trap(str(marker))}, str(weights))
    else:
        weights.write_bytes(os.urandom(64))
    _set_sha(folder, sha256_of(weights))  # the hash matches: only the format check stops it
    m = load_manifest(folder)
    status, reason = check_weights(m)
    assert status is WeightsStatus.IMPORT_ERROR
    assert "refused" in reason and "only .safetensors" in reason
    with pytest.raises(WeightsError, match="refused"):
        load_weights(m)
    assert not marker.exists()


def _safetensors_with_header_length(path: Path, length: int) -> None:
    """A valid safetensors file (one float32 tensor ``w`` = [1, 2]) whose JSON header is ``length`` bytes."""
    import json
    import struct

    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    header += b" " * (length - len(header))  # the format allows trailing spaces
    path.write_bytes(struct.pack("<Q", length) + header + struct.pack("<2f", 1.0, 2.0))


@pytest.mark.parametrize("length", [0x2380, 0x4B50], ids=["starts-like-a-pickle", "starts-like-a-zip"])
def test_safetensors_whose_length_starts_with_a_magic_byte_still_loads(plugin_dir: Path, length: int) -> None:
    """Export wrote such a file (header 0x2380 bytes: first byte 0x80, a pickle's); it was refused."""
    import torch

    from plugins.community.model_file import file_kind, read_state_dict
    from plugins.weights import safetensors_problem

    folder = write_tiny_plugin(plugin_dir)
    weights = folder / "weights.safetensors"
    _safetensors_with_header_length(weights, length)
    assert weights.read_bytes()[:2] in (b"\x80\x23", b"PK")
    assert safetensors_problem(weights) is None and file_kind(weights) == "safetensors"
    _set_sha(folder, sha256_of(weights))
    m = load_manifest(folder)
    assert check_weights(m) == (WeightsStatus.OK, "")
    assert torch.equal(load_weights(m)["main"]["w"], torch.tensor([1.0, 2.0]))
    assert torch.equal(read_state_dict(weights)["w"], torch.tensor([1.0, 2.0]))


def test_downloaded_copy_in_cache_is_found(plugin_dir: Path) -> None:
    folder = write_tiny_plugin(plugin_dir)
    cached = cache_dir() / "weights" / "tiny" / "weights.safetensors"
    cached.parent.mkdir(parents=True)
    os.replace(folder / "weights.safetensors", cached)
    m = load_manifest(folder)
    assert check_weights(m) == (WeightsStatus.OK, "")
    assert set(load_weights(m)["main"]) == set(tiny_state_dict())


def test_cache_dir_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLARITY_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("CLARITY_CACHE_DIR")
    assert cache_dir().name == "clarity-studio" or "clarity-studio" in str(cache_dir())


def test_write_safetensors_gives_the_same_bytes_for_the_same_weights(tmp_path: Path) -> None:
    from safetensors.torch import load_file, safe_open

    state = tiny_state_dict()
    metadata = {"source": "net.pth", "arch": "x", "step": "7", "note": "é"}
    digests = set()
    for i in range(6):  # safetensors alone orders the metadata differently from save to save
        path = tmp_path / f"w{i}.safetensors"
        write_safetensors(state, path, metadata)
        digests.add(sha256_file(path))
    assert len(digests) == 1
    with safe_open(str(path), "pt") as f:
        assert f.metadata() == metadata
    assert all((load_file(str(path))[k] == v).all() for k, v in state.items())
