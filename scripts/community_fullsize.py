"""Import FULL-SIZE community architectures (random weights) and check them on a photo crop.

Developer tool behind the table in docs/plugins.md ("Full-size models"). Three sub-commands:

- ``make OUT``: build random-weight full-size instances with spandrel's own architecture classes
  (the published configurations: Real-ESRGAN x4plus RRDBNet, Real-ESRGAN Compact x4 "general-x4v3",
  SwinIR-M x4 classical, SPAN x4, DRUNet color, SCUNet, NAFNet width 32) and save each as
  ``OUT/<name>.pth`` (BasicSR style ``params_ema`` wrapper) and ``OUT/<name>.safetensors``;
- ``run OUT --plugins DIR [--image PNG] [--only NAME]``: for each model, ``clarity plugin import``
  it into ``DIR`` (a scratch plugin folder, never the real one) in a child process (wall time, peak
  RSS), then ``apply`` it to a 512 x 512 crop whole and tiled in another child process; prints
  one markdown table row per model (``--no-apply``: import only);
- ``apply ID PNG TILE``: (internal) whole and tiled runs of plugin ID, printed as JSON.

Nothing is downloaded. Weights are random, so the outputs are meaningless images: the point is
detection, import cost, memory and tiling correctness at real sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _factories() -> dict[str, Callable[[], object]]:
    from plugins.community.spandrel_compat import import_spandrel

    import_spandrel()
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.DRUNet import DRUNet
    from spandrel.architectures.ESRGAN import ESRGAN
    from spandrel.architectures.NAFNet import NAFNet
    from spandrel.architectures.SCUNet import SCUNet
    from spandrel.architectures.SPAN import SPAN
    from spandrel.architectures.SwinIR import SwinIR

    return {  # cheapest first
        "realesr-general-x4v3": lambda: Compact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=32, upscale=4,
                                                act_type="prelu"),
        "span-x4": lambda: SPAN(num_in_ch=3, num_out_ch=3, feature_channels=48, upscale=4),
        "nafnet-width32": lambda: NAFNet(img_channel=3, width=32, middle_blk_num=12, enc_blk_nums=[2, 2, 4, 8],
                                         dec_blk_nums=[2, 2, 2, 2]),
        "drunet-color": lambda: DRUNet(in_nc=4, out_nc=3, nc=[64, 128, 256, 512], nb=4),
        "scunet-color": lambda: SCUNet(in_nc=3, config=[4, 4, 4, 4, 4, 4, 4], dim=64),
        "swinir-m-x4": lambda: SwinIR(upscale=4, in_chans=3, img_size=48, window_size=8, img_range=1.0,
                                      depths=[6] * 6, embed_dim=180, num_heads=[6] * 6, mlp_ratio=2,
                                      upsampler="pixelshuffle", resi_connection="1conv"),
        "realesrgan-x4plus": lambda: ESRGAN(in_nc=3, out_nc=3, num_filters=64, num_blocks=23, scale=4),
    }  # fmt: skip


def make(out: Path) -> None:
    """Save every full-size model as .pth and .safetensors under ``out``."""
    import torch
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    for name, factory in _factories().items():
        torch.manual_seed(0)
        net = factory()
        with torch.no_grad():
            for p in net.parameters():  # non-trivial weights everywhere
                p.add_(0.02 * torch.randn_like(p))
        state = {k: v.detach().contiguous().clone() for k, v in net.state_dict().items()}
        torch.save({"params_ema": state}, out / f"{name}.pth")
        save_file(state, str(out / f"{name}.safetensors"))
        print(f"{name}: {sum(v.numel() for v in state.values()):,} values", flush=True)


def _child(cmd: list[str], env: dict[str, str]) -> tuple[int, str, float, float, float]:
    """(returncode, stdout+stderr, wall s, peak RSS GiB, CPU s) of a child process (os.wait4's rusage)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return proc.returncode, output, time.perf_counter() - started, usage.ru_maxrss / 1024**2, cpu


def crop_512(png: Path) -> object:
    """The central 512 x 512 crop of ``png`` as float32 (H, W, 3) in [0, 1]."""
    import numpy as np
    from PIL import Image

    image = np.asarray(Image.open(png).convert("RGB"), dtype=np.float32) / 255.0
    h, w = image.shape[:2]
    top, left = max(0, (h - 512) // 2), max(0, (w - 512) // 2)
    return np.ascontiguousarray(image[top : top + 512, left : left + 512])


def apply(plugin_id: str, png: Path, tile: int) -> None:
    """Whole and tiled runs of ``plugin_id`` on the crop; prints JSON (times, max |tiled - whole|).

    ``tile`` 0 skips the tiled run (a ``min-tile`` plugin whose minimum tile covers the crop
    would only repeat the whole-image run)."""
    import numpy as np

    from engine.api import apply_filter
    from engine.core.types import DeviceKind, Precision, RunOptions

    image = crop_512(png)
    result: dict[str, object] = {}
    outputs = []
    for label, t in (("whole", 0), ("tiled", tile))[: 2 if tile else 1]:
        started = time.perf_counter()
        run = apply_filter(image, plugin_id, options=RunOptions(tile=t, device=DeviceKind.CPU, precision=Precision.FP32))
        result[f"{label}_s"] = round(time.perf_counter() - started, 1)
        result[f"{label}_warnings"] = list(run.warnings)
        outputs.append(run.image)
    result["max_diff"] = float(np.abs(outputs[0] - outputs[1]).max()) if tile else None
    print("RESULT " + json.dumps(result), flush=True)


def run(out: Path, plugins: Path, png: Path, only: str | None, tile: int, no_apply: bool = False) -> None:
    """Import and apply every model (``no_apply``: import only); prints a markdown row per model."""
    env = dict(os.environ, CLARITY_PLUGIN_PATH=str(plugins), PYTHONPATH=str(ROOT))
    names = [only] if only else list(_factories())
    fmt = {n: (".pth" if i % 2 == 0 else ".safetensors") for i, n in enumerate(_factories())}
    for name in names:
        model = out / f"{name}{fmt[name]}"
        cmd = [sys.executable, "-m", "engine.cli.main", "plugin", "import", str(model), "--id", name]
        rc, text, wall, rss, cpu = _child(cmd, env)
        print(text, flush=True)
        if rc != 0:
            print(f"| {name} | import failed: {text.strip().splitlines()[-1]} |", flush=True)
            continue
        measured = re.search(r"measured in ([\d.]+) s", text)
        arch = re.search(r"architecture: (.+?) \(", text)
        tiling = re.search(r"tiling: (\S+), context (\d+) px(?:, min tile (\d+) px)?", text)
        tiled = bool(tiling and tiling.group(1) == "tiled")
        if no_apply:
            print(f"| {name} ({fmt[name]}) | {arch.group(1) if arch else '?'} | {tiling.group(0) if tiling else '?'} | "
                  f"{wall:.0f} s wall, {cpu:.0f} s CPU ({measured.group(1) if measured else '?'} s measuring) | "
                  f"{rss:.2f} GiB | not run |", flush=True)
            continue
        rc, atext, _awall, arss, acpu = _child([sys.executable, __file__, "apply", name, str(png), str(tile if tiled else 0)], env)
        found = re.search(r"RESULT (.*)", atext)
        res = json.loads(found.group(1)) if found else {}
        if not found:
            print(atext, flush=True)
        diff = res.get("max_diff", "?") if tiled else "n/a (min tile >= crop: one tile)"
        print(
            f"| {name} ({fmt[name]}) | {arch.group(1) if arch else '?'} | "
            f"{tiling.group(1) if tiling else '?'}, context {tiling.group(2) if tiling else '?'}"
            f"{', min tile ' + tiling.group(3) if tiling and tiling.group(3) else ''} | "
            f"{wall:.0f} s wall, {cpu:.0f} s CPU ({measured.group(1) if measured else '?'} s measuring) | {rss:.2f} GiB | "
            f"{res.get('whole_s', '?')} s / {res.get('tiled_s', '-')} s wall, {acpu:.0f} s CPU | {arss:.2f} GiB | {diff} |",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("make")
    p.add_argument("out", type=Path)
    p = sub.add_parser("run")
    p.add_argument("out", type=Path)
    p.add_argument("--plugins", type=Path, required=True)
    p.add_argument("--image", type=Path, default=ROOT / ".data" / "val" / "set5" / "baby.png")
    p.add_argument("--only")
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--no-apply", action="store_true", help="import only (no whole/tiled runs)")
    p = sub.add_parser("apply")
    p.add_argument("plugin_id")
    p.add_argument("png", type=Path)
    p.add_argument("tile", type=int)
    args = parser.parse_args(argv)
    if args.cmd == "make":
        make(args.out)
    elif args.cmd == "run":
        run(args.out, args.plugins, args.image, args.only, args.tile, args.no_apply)
    else:
        apply(args.plugin_id, args.png, args.tile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
