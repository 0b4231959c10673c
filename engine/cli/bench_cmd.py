"""``clarity bench --filter ID --size WxH``: whole-image vs tiled speed and memory, as a table or JSON.

Thin wrapper over :func:`engine.bench.bench_plugin`; ``--filter`` may repeat to compare plugins
side by side. ``--batch DIR`` times a batch over DIR with the first filter (images/s with and
without reader/writer overlap, :func:`engine.batch.bench.bench_batch`); given alone (no
``--size``) it skips the synthetic-image benchmark. ``--backend all`` compares PyTorch and ONNX
Runtime on the CPU, interleaved, with export time and GFLOP/s vs the matrix-product rate
(:mod:`engine.backends.bench`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from engine.batch.bench import BatchBenchResult

JSON_VERSION = 1
DEFAULT_SIZE = "1024x1024"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bench`` subcommand."""
    from engine.cli.options import add_backend_option, add_run_options

    p = subparsers.add_parser("bench", help="measure a filter's speed and memory (whole image vs tiled)")
    p.add_argument("--filter", "-f", action="append", required=True, metavar="ID",
                   help="plugin id; repeat to compare several plugins in one table")  # fmt: skip
    p.add_argument("--size", default=None, metavar="WxH",
                   help=f"synthetic input size (default {DEFAULT_SIZE}; with --batch and no --size, no synthetic run)")
    add_run_options(p)
    add_backend_option(p, extra=("all",))
    p.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE", help="filter parameter, repeatable")
    p.add_argument("--repeat", type=int, default=1, metavar="N", help="runs per measurement; the median is reported")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic image")
    p.add_argument("--no-whole", action="store_true", help="skip the whole-image run (very large sizes)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_batch_arguments(p)
    p.set_defaults(func=run)


def _add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """Hook for ``--batch DIR`` (batch throughput with/without I/O overlap): see engine/cli/batch_cmd.py."""
    from engine.cli.batch_cmd import add_bench_batch_arguments

    add_bench_batch_arguments(parser)


def _batch_section(args: argparse.Namespace) -> BatchBenchResult | None:
    """Batch-throughput figures for ``--batch`` (``None`` when not requested)."""
    from engine.cli.batch_cmd import bench_batch_section

    return bench_batch_section(args)


def _run_backends(args: argparse.Namespace, width: int, height: int, options: object, params: dict) -> int:
    """``--backend all``: every ``--filter`` on each CPU backend, one table (or JSON)."""
    from engine.api import get_registry
    from engine.backends.bench import bench_backends, format_backend_table, matmul_gflops
    from engine.bench import BenchSpec

    rate = matmul_gflops()
    results = []
    for plugin_id in args.filter:
        if not args.json:
            print(f"benchmarking {plugin_id} at {width}x{height} on torch and onnx...", file=sys.stderr)
        restorer = get_registry().load(plugin_id)
        spec = BenchSpec(width, height, options, params, repeat=args.repeat, seed=args.seed, whole=not args.no_whole)
        results += bench_backends(restorer, spec, matmul=rate)
    if args.json:
        json.dump({"version": JSON_VERSION, "backends": [r.to_dict() for r in results]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_backend_table(results))
    return 0


def run(args: argparse.Namespace) -> int:
    """Benchmark every ``--filter`` and print the table (or JSON); returns 0."""
    from engine.bench import BenchSpec, bench_plugin, format_table, parse_size
    from engine.cli.options import parse_params, run_options
    from engine.core.errors import ParameterError

    synthetic = args.size is not None or args.batch is None
    width, height = parse_size(args.size or DEFAULT_SIZE)
    if args.repeat < 1:
        raise ParameterError(f"--repeat {args.repeat} must be at least 1")
    options = run_options(args)
    params = parse_params(args.param)
    if args.backend == "all" and synthetic:
        return _run_backends(args, width, height, options, params)
    results = []
    for plugin_id in args.filter if synthetic else ():
        if not args.json:
            print(f"benchmarking {plugin_id} at {width}x{height}...", file=sys.stderr)
        spec = BenchSpec(width, height, options, params, repeat=args.repeat, seed=args.seed, whole=not args.no_whole)
        results.append(bench_plugin(plugin_id, spec))
    batch = _batch_section(args)
    if args.json:
        payload: dict[str, object] = {"version": JSON_VERSION, "results": [r.to_dict() for r in results]}
        if batch is not None:
            payload["batch"] = batch.to_dict()
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        if results:
            sys.stdout.write(format_table(results))
        if batch is not None:
            sys.stdout.write(("\n" if results else "") + batch.table())
    return 0
