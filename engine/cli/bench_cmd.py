"""``clarity bench --filter ID --size WxH``: whole-image vs tiled speed and memory, as a table or JSON.

Thin wrapper over :func:`engine.bench.bench_plugin`; ``--filter`` may repeat to compare plugins
side by side. Extension point: the batch-throughput benchmark (``--batch DIR``, images/s with
and without I/O overlap) plugs in through :func:`_add_batch_arguments` and :func:`_batch_section`,
which are deliberately empty here.
"""

from __future__ import annotations

import argparse
import json
import sys

JSON_VERSION = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bench`` subcommand."""
    from engine.cli.apply_cmd import add_run_options

    p = subparsers.add_parser("bench", help="measure a filter's speed and memory (whole image vs tiled)")
    p.add_argument("--filter", "-f", action="append", required=True, metavar="ID",
                   help="plugin id; repeat to compare several plugins in one table")  # fmt: skip
    p.add_argument("--size", default="1024x1024", metavar="WxH", help="synthetic input size (default 1024x1024)")
    add_run_options(p)
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


def _batch_section(args: argparse.Namespace) -> dict[str, object] | None:
    """Hook: batch-throughput figures for ``--batch`` (``None`` when not requested)."""
    from engine.cli.batch_cmd import bench_batch_section

    return bench_batch_section(args)


def run(args: argparse.Namespace) -> int:
    """Benchmark every ``--filter`` and print the table (or JSON); returns 0."""
    from engine.bench import bench_plugin, format_table, parse_size
    from engine.cli.apply_cmd import parse_params, run_options
    from engine.errors import ParameterError

    width, height = parse_size(args.size)
    if args.repeat < 1:
        raise ParameterError(f"--repeat {args.repeat} must be at least 1")
    options = run_options(args)
    params = parse_params(args.param)
    results = []
    for plugin_id in args.filter:
        if not args.json:
            print(f"benchmarking {plugin_id} at {width}x{height}...", file=sys.stderr)
        results.append(bench_plugin(plugin_id, width, height, options=options, params=params, repeat=args.repeat,
                                    seed=args.seed, whole=not args.no_whole))  # fmt: skip
    batch = _batch_section(args)
    if args.json:
        payload: dict[str, object] = {"version": JSON_VERSION, "results": [r.to_dict() for r in results]}
        if batch is not None:
            payload["batch"] = batch
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_table(results))
        if batch is not None:
            sys.stdout.write(json.dumps(batch, indent=2) + "\n")
    return 0
