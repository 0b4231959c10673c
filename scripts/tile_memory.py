"""Measure each built-in network's peak CPU memory per input pixel (``NetworkSpec.memory_per_pixel``).

One fp32 forward under ``inference_mode`` with random weights, at the network's largest scale,
in a fresh subprocess per measurement (peak RSS, Linux ``ru_maxrss``); the figure is the slope
between two input edges, so the weights and the interpreter cancel out:

    python scripts/tile_memory.py            # prints measured vs declared bytes per input pixel

The engine sizes CPU tiles from the declared figure (engine/device.py, ``auto_tile_size``), so a
declared value should be at or a little above the measurement.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

_CHILD = """
import json, resource, sys, torch
from plugins.nets.loading import network_factory
from plugins.nets.specs import SPECS
torch.set_num_threads(2)
arch, edge = sys.argv[1], int(sys.argv[2])
spec = SPECS[arch]
scale = max(spec.scales)
net = network_factory(arch)().eval()
size = edge * scale if spec.input.value == "upsampled" else edge
x = torch.rand(1, spec.channels_in, size, size)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with torch.inference_mode():
    kwargs = {"scale": scale} if spec.scale_arg else {}
    net(x, torch.full((1, 1, 1, 1), 0.1), **kwargs) if spec.noise_map else net(x, **kwargs)
print(json.dumps((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024))
"""


def peak_bytes(arch: str, edge: int) -> int:
    """Peak RSS growth (bytes) of one forward of ``arch`` on an ``edge`` x ``edge`` input."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, arch, str(edge)], capture_output=True, text=True, check=True, cwd=REPO
    )
    return int(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=256, help="smaller input edge (divided by the scale for SR networks)")
    parser.add_argument("--large", type=int, default=512, help="larger input edge (same)")
    parser.add_argument("--only", default="", help="measure only the factories whose name contains this text")
    args = parser.parse_args()
    from plugins.nets.specs import SPECS

    measured: set[int] = set()
    for arch, spec in SPECS.items():
        if id(spec) in measured or args.only not in arch:  # several factories share one spec
            continue
        measured.add(id(spec))
        scale = max(spec.scales)
        edges = (args.small // scale, args.large // scale)
        small, large = (peak_bytes(arch, e) for e in edges)
        per_pixel = (large - small) / (edges[1] ** 2 - edges[0] ** 2)
        print(f"{arch:45s} x{max(spec.scales)}  measured {per_pixel:8.0f} B/px  declared {spec.memory_per_pixel:6d}")


if __name__ == "__main__":
    main()
