"""Every bad-input corpus case reads to its expected outcome (and good photos read back)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.core.errors import ClarityError
from engine.io import image_info, read_image
from tests.corpus import CorpusCase, make_bad_input_corpus, make_good_photos


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[CorpusCase]:
    return make_bad_input_corpus(tmp_path_factory.mktemp("corpus"))


def test_corpus_has_every_required_case(corpus: list[CorpusCase]) -> None:
    names = {c.name for c in corpus}
    for required in (
        "zero-byte.png", "truncated.png", "truncated.jpg", "truncated.tif", "text-file.jpg", "huge-header.png",
        "bilevel.png", "palette.png", "gray-alpha.png", "cmyk.jpg", "gray16.png", "rgb16.png", "float32.tif",
        "animated.gif", "animated.webp", "ünïcødé 写真.png", "name  with spaces .jpg", "unreadable.png",
        "named-pipe.png", "dev-zero-link.jpg", "socket.png", "huge-sparse-non-image.png",
    ):
        assert required in names
    assert all(c.path.exists() for c in corpus)


def test_every_case_reads_to_its_expected_outcome(corpus: list[CorpusCase]) -> None:
    checked = 0
    for case in corpus:
        if case.skip_reason:
            continue
        if case.expect == "error":
            assert case.error is not None
            with pytest.raises(case.error) as info:
                read_image(case.path)
            message = str(info.value)
            assert case.path.name in message and "\n" not in message, message
        else:
            doc = read_image(case.path)
            assert (doc.width, doc.height, doc.channels, doc.bit_depth) == (
                case.width, case.height, case.channels, case.bit_depth,
            ), case.name
            assert (doc.alpha is not None) == case.has_alpha, case.name
            assert doc.pixels.dtype == np.float32 and 0.0 <= doc.pixels.min() and doc.pixels.max() <= 1.0
            assert bool(doc.warnings) == case.warns, (case.name, doc.warnings)
            info_ = image_info(case.path)
            assert (info_.width, info_.height, info_.channels, info_.bit_depth) == (
                case.width, case.height, case.channels, case.bit_depth,
            ), case.name
        checked += 1
    assert checked >= len(corpus) - 1


def test_image_info_reads_headers_only(corpus: list[CorpusCase]) -> None:
    """Header probes never decode: the bomb header is reported, not refused; non-images still fail."""
    by_name = {c.name: c for c in corpus}
    info = image_info(by_name["huge-header.png"].path)
    assert (info.width, info.height, info.format) == (100_000, 100_000, "PNG")
    for name in ("zero-byte.png", "text-file.jpg", "png-signature-only.png"):
        with pytest.raises(ClarityError, match="cannot read"):
            image_info(by_name[name].path)
    for case in corpus:  # anything else: a result or a ClarityError, never a raw decoder exception
        if case.skip_reason:
            continue
        try:
            image_info(case.path)
        except ClarityError:
            pass


def test_unreadable_case_is_marked_for_root(corpus: list[CorpusCase]) -> None:
    import os

    case = next(c for c in corpus if c.name == "unreadable.png")
    assert (case.skip_reason is not None) == (os.geteuid() == 0)


def test_good_photos_read_back(tmp_path: Path) -> None:
    paths = make_good_photos(tmp_path, 4)
    assert [p.suffix for p in paths] == [".png", ".jpg", ".png", ".jpg"]
    for p in paths:
        doc = read_image(p)
        assert (doc.width, doc.height, doc.channels) == (64, 48, 3)
        assert doc.pixels.std() > 0.05  # structured, not flat
