"""How much JPEG error do the SR training targets carry? (issue 14: cbsd432 is stored as JPEG)

Re-encodes the Set5 and Set14 ground truths with the quantisation tables and chroma subsampling
of ``cbsd432`` and prints the Y-channel PSNR of that round trip (the protocol's Y, no shave). If it
is far above the SR targets (Set5 x2 ~38 dB), the JPEG error in the targets is a noise floor an
order of magnitude below what the network gets wrong, and not what limits SR quality.

    python scripts/sr_jpeg_check.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, JpegImagePlugin

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.training.metrics import psnr, rgb_to_y  # noqa: E402


def round_trip_psnr(path: Path, reference: Image.Image) -> float:
    """Y PSNR of ``path`` after a JPEG round trip with ``reference``'s tables and subsampling."""
    tables = reference.quantization
    image = Image.open(path).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", qtables=[tables[0], tables[1]], subsampling=JpegImagePlugin.get_sampling(reference))
    buffer.seek(0)
    original = rgb_to_y(np.asarray(image, dtype=np.float64))
    decoded = rgb_to_y(np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float64))
    return psnr(decoded, original, data_range=255.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    reference = Image.open(sorted((args.data / "train" / "cbsd432").glob("*.jpg"))[0])
    print(f"cbsd432 luma table starts {list(reference.quantization[0])[:8]} (quality ~95), subsampling {JpegImagePlugin.get_sampling(reference)}")
    for name in ("set5", "set14"):
        values = [round_trip_psnr(p, reference) for p in sorted((args.data / "val" / name).glob("*.png"))]
        print(f"{name}: Y PSNR of the round trip {np.mean(values):.2f} dB (min {min(values):.2f}, {len(values)} images)")


if __name__ == "__main__":
    main()
