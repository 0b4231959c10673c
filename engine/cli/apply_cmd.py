"""``clarity apply INPUT OUTPUT --filter ID ...``: run one filter on one image file.

Reads with :func:`engine.io.read_image` (alpha, ICC profile, EXIF and bit depth are kept aside
and written back), runs :func:`engine.api.apply_filter`, writes with :func:`engine.io.write_image`.
Never writes onto INPUT and refuses an existing OUTPUT unless ``--overwrite``. A progress bar is
drawn on stderr when it is a terminal. User mistakes raise :class:`ClarityError` (one line, exit 2
by :mod:`engine.cli.main`). With super-resolution and ``--region``/``--mask`` the output is the
selection's bounding box, upscaled (see :mod:`engine.runner`).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from engine.cli.options import add_backend_option, add_run_options, parse_params, run_options


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``apply`` subcommand."""
    p = subparsers.add_parser("apply", help="apply a filter to an image file and save the result")
    p.add_argument("input", type=Path, metavar="INPUT", help="image to filter")
    p.add_argument("output", type=Path, metavar="OUTPUT", help="where to save the result (format from the extension)")
    p.add_argument("--filter", "-f", required=True, metavar="ID", help="plugin id (see `clarity list`)")
    p.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE",
                   help="filter parameter, repeatable (e.g. --param sigma=25 or sigma=auto)")  # fmt: skip
    where = p.add_mutually_exclusive_group()
    where.add_argument("--region", metavar="X,Y,W,H", help="filter only this rectangle")
    where.add_argument("--mask", type=Path, metavar="MASK.png", help="filter where this mask (same size) is white/opaque")
    p.add_argument("--strength", type=float, default=100.0, metavar="0-100", help="blend with the original (default 100)")
    add_run_options(p)
    add_backend_option(p)
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.set_defaults(func=run)


def check_paths(input_path: Path, output_path: Path, overwrite: bool) -> None:
    """Refuse to write onto the input (always) or onto an existing output (unless ``overwrite``)."""
    from engine.core.errors import ImageWriteError, UnsupportedImageError

    if not input_path.is_file():
        raise UnsupportedImageError(f"input '{input_path}' does not exist or is not a file")
    same = output_path.resolve() == input_path.resolve()
    if not same and output_path.exists():
        try:
            same = os.path.samefile(input_path, output_path)
        except OSError:
            same = False
    if same:
        raise ImageWriteError(f"OUTPUT '{output_path}' is the input file; choose another output name")
    if output_path.exists() and not overwrite:
        raise ImageWriteError(f"OUTPUT '{output_path}' already exists; add --overwrite to replace it")


def run(args: argparse.Namespace) -> int:
    """Filter INPUT into OUTPUT; returns 0 (errors are raised as ClarityError)."""
    from engine.api import apply_filter
    from engine.channels import result_alpha
    from engine.cli.progress import TerminalProgress
    from engine.core.errors import ParameterError
    from engine.core.types import Region, format_resolved
    from engine.io import read_image, read_mask, write_image
    from engine.core.text import one_line

    if not 0.0 <= args.strength <= 100.0:
        raise ParameterError(f"--strength {args.strength:g} is outside 0-100")
    params = parse_params(args.param)
    region = Region.parse(args.region) if args.region else None
    check_paths(args.input, args.output, args.overwrite)
    options = run_options(args, args.strength / 100.0)
    doc = read_image(args.input)
    mask = read_mask(args.mask, doc.width, doc.height) if args.mask else None
    if region is not None:
        region = region.clipped(doc.width, doc.height)
    with TerminalProgress(f"{args.filter} {args.input.name}") as bar:
        result = apply_filter(doc.pixels, args.filter, params, region=region, mask=mask, options=options,
                              progress=bar.callback)  # fmt: skip
    new_alpha = result_alpha(doc.alpha, result.area, *result.image.shape[:2])  # the area it covers, at its size
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = write_image(args.output, doc.with_pixels(result.image, alpha=new_alpha), overwrite=args.overwrite)
    for message in [*doc.warnings, *result.warnings, *(str(w.message) for w in caught)]:
        print(f"clarity: warning: {one_line(message)}", file=sys.stderr)
    h, w = result.image.shape[:2]
    passes = f" x {options.ensemble} ensemble passes" if options.ensemble > 1 else ""
    auto = f"; {args.filter} resolved {format_resolved(result.resolved)}" if result.resolved else ""
    print(f"{one_line(written)}: {w}x{h}, {one_line(args.filter)} on {result.device} ({result.precision.value}, {result.backend}), "
          f"{result.tiles} tile(s){passes}, {result.seconds:.2f} s{one_line(auto)}")  # fmt: skip
    return 0
