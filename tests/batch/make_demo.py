"""Build a batch demo folder: good photos mixed with the whole bad-input corpus, plus a tiny plugin.

Usage (from the repository root)::

    .venv/bin/python -m tests.batch.make_demo /tmp/batch-demo
    CLARITY_PLUGIN_PATH=/tmp/batch-demo/plugins .venv/bin/python -m engine.cli batch \\
        /tmp/batch-demo/in /tmp/batch-demo/out --filter tiny --param amount=0.5

Writes ``ROOT/in/photos`` (good photos), ``ROOT/in/corpus`` (tests/corpus.py's bad-input
corpus, which also holds odd-but-valid files) and the plugins ``tiny`` and ``slow``
(50 ms per tile, to try Ctrl+C with ``--filter slow --tile 8``) in ``ROOT/plugins``.
"""

from __future__ import annotations

import sys
from pathlib import Path


def make_demo(root: Path, photos: int = 6) -> Path:
    """Create the demo under ``root`` and return ``root / "in"``."""
    from tests.corpus import make_bad_input_corpus, make_good_photos
    from tests.plugin_factory import write_tiny_plugin

    make_good_photos(root / "in" / "photos", photos)
    make_bad_input_corpus(root / "in" / "corpus")
    write_tiny_plugin(root / "plugins", "tiny")
    write_tiny_plugin(root / "plugins", "slow", kind="slow", sleep=0.05)  # for trying Ctrl+C
    return root / "in"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.batch.make_demo ROOT")
    print(make_demo(Path(sys.argv[1])))
