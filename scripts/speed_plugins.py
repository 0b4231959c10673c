"""Copy built-in plugins with seeded RANDOM weights into a folder, for speed benchmarks only.

Speed does not depend on weight values, so `clarity bench` can compare architectures before
they are trained. The copies get the id suffix ``-speedtest`` and a description saying their
weights are random; they are written outside the repository and must never be shipped.

    python scripts/speed_plugins.py /tmp/speed denoise_dncnn denoise upscale_rednet upscale
    CLARITY_PLUGIN_PATH=/tmp/speed clarity bench --filter denoise-dncnn-speedtest \
        --filter denoise-speedtest --size 2048x2048 --device cpu
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def make_speed_copy(folder_name: str, dest_root: Path, seed: int = 0) -> Path:
    """Copy ``plugins/<folder_name>`` to ``dest_root`` with random weights for every entry."""
    src = REPO / "plugins" / folder_name
    dest = dest_root / f"{folder_name}_speedtest"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.safetensors"))
    from engine.training.export import set_weights_sha256
    from plugins.manifest import load_manifest
    from plugins.nets.loading import network_factories

    factories = network_factories(load_manifest(src))
    text = (dest / "plugin.toml").read_text()
    text = re.sub(r'^id = "([^"]+)"', r'id = "\1-speedtest"', text, count=1, flags=re.M)
    text = re.sub(r'^name = "([^"]+)"', r'name = "\1 (random weights, speed test)"', text, count=1, flags=re.M)
    for name, factory in factories.items():
        torch.manual_seed(seed)
        state = {k: v.contiguous() for k, v in factory().state_dict().items()}
        _, file_name = set_weights_sha256(text, name, "0" * 64, f"{name}.safetensors")
        path = dest / file_name
        save_file(state, str(path))
        text, _ = set_weights_sha256(text, name, hashlib.sha256(path.read_bytes()).hexdigest(), file_name)
    (dest / "plugin.toml").write_text(text)
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("plugins", nargs="+", help="built-in plugin folder names, e.g. denoise_dncnn")
    args = parser.parse_args()
    args.dest.mkdir(parents=True, exist_ok=True)
    for name in args.plugins:
        print(make_speed_copy(name, args.dest))


if __name__ == "__main__":
    main()
