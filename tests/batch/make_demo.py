"""Build a batch demo folder: good photos mixed with the whole bad-input corpus, plus a tiny plugin.

Usage (from the repository root)::

    .venv/bin/python -m tests.batch.make_demo /tmp/batch-demo
    CLARITY_PLUGIN_PATH=/tmp/batch-demo/plugins .venv/bin/python -m engine.cli batch \\
        /tmp/batch-demo/in /tmp/batch-demo/out --filter tiny --param amount=0.5

Writes ``ROOT/in/photos`` (good photos), ``ROOT/in/corpus`` (tests/corpus.py's bad-input
corpus, which also holds odd-but-valid files and the hostile ones of issue 19: a FIFO, a link
to ``/dev/zero``, a socket, a 4 GiB sparse non-image, a name full of terminal escapes) and the
plugins ``tiny``, ``slow`` (50 ms per tile, to try Ctrl+C or SIGTERM with ``--filter slow
--tile 8``), ``deep`` (a crafted 200 KB safetensors header of 100,000 nested arrays: listed as
broken, never stops the others) and ``quitter`` (calls ``sys.exit(5)`` in ``forward``: each file
fails alone) in ``ROOT/plugins``.
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
    _hostile_plugins(root / "plugins")
    return root / "in"


def _hostile_plugins(parent: Path) -> None:
    """``deep`` (nested-JSON weights header with a matching sha256) and ``quitter`` (sys.exit in forward)."""
    import re

    from tests.plugin_factory import sha256_of, write_tiny_plugin

    deep = write_tiny_plugin(parent, "deep")
    header = b"[" * 100_000 + b"]" * 100_000
    (deep / "weights.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    toml = deep / "plugin.toml"
    toml.write_text(re.sub(r'sha256 = "[0-9a-f]*"', f'sha256 = "{sha256_of(deep / "weights.safetensors")}"',
                           toml.read_text()))
    quitter = write_tiny_plugin(parent, "quitter")
    model = quitter / "model.py"
    marker = "    def forward(self, x: torch.Tensor, params: ParamValues) -> torch.Tensor:\n"
    model.write_text(model.read_text().replace(marker, marker + "        import sys; sys.exit(5)\n", 1))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.batch.make_demo ROOT")
    print(make_demo(Path(sys.argv[1])))
