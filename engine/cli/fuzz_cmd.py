"""``clarity fuzz``: mutate image files and feed them to the reader; report anything but a clean result.

Not part of CI (a 3-second smoke run is). Example::

    clarity fuzz --minutes 2 --corpus tests/data --out fuzz-out
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``fuzz`` subcommand."""
    p = subparsers.add_parser(
        "fuzz",
        help="fuzz the image reader with mutated files (developer tool)",
        description="Mutate seed image files (bit flips, truncation, header edits) and feed them to the image "
        "reader; anything other than a decoded image or a clean error is reported as a crash.",
    )
    when = p.add_mutually_exclusive_group()
    when.add_argument("--minutes", type=float, default=None, help="how long to fuzz (default 1 minute)")
    when.add_argument("--seconds", type=float, default=None, help="how long to fuzz, in seconds")
    p.add_argument("--corpus", type=Path, default=None, help="folder of seed files (default: built-in tiny images)")
    p.add_argument("--out", type=Path, default=Path("clarity-fuzz-out"),
                   help="folder for crash samples and tracebacks (created on the first crash)")
    p.add_argument("--target", choices=("read", "info", "hostile"), default="read",
                   help="read: decode whole images (default); info: header probes on files (image_info); "
                        "hostile: deep safetensors headers, name templates, control characters, FIFOs/devices")
    p.add_argument("--seed", type=int, default=0, help="random seed of the mutator (default 0)")
    p.add_argument("--max-pixels", type=int, default=4_000_000,
                   help="pixel limit while fuzzing, keeps each decode fast (default 4000000)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fuzz, print the crash table; exit 0 when nothing crashed, 1 otherwise."""
    from engine.core.errors import ParameterError
    from engine.fuzzing import builtin_seeds, format_report, load_seed_folder, run_fuzz

    seconds = 60.0 if args.minutes is None and args.seconds is None else (
        args.seconds if args.seconds is not None else args.minutes * 60.0
    )
    if seconds <= 0:
        raise ParameterError(f"fuzzing time must be positive, got {seconds:g} s")
    def tick(runs: int, crashes: int) -> None:
        print(f"\r{runs} inputs, {crashes} crashes", end="", file=sys.stderr, flush=True)

    if args.target == "hostile":
        from engine.cli.fuzz_hostile import run_hostile_fuzz

        report = run_hostile_fuzz(seconds=seconds, rng_seed=args.seed, out_dir=args.out,
                                  progress=tick if sys.stderr.isatty() else None)
        if sys.stderr.isatty():
            print(file=sys.stderr)
        print(format_report(report))
        return 1 if report.crashes else 0
    seeds = load_seed_folder(args.corpus) if args.corpus is not None else builtin_seeds()
    report = run_fuzz(
        seeds, seconds=seconds, rng_seed=args.seed, out_dir=args.out, max_pixels=args.max_pixels,
        progress=tick if sys.stderr.isatty() else None, target=args.target,
    )
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(format_report(report))
    return 1 if report.crashes else 0
