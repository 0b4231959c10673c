"""``clarity plugin``: tools for plugin authors.

- ``clarity plugin new NAME [--dir DIR] [--task TASK] [--scale N] [--force]``: scaffold a working
  template plugin (into the user plugin folder by default);
- ``clarity plugin check PATH``: validate a plugin folder's manifest and weights;
- ``clarity plugin hash FILE...``: print sha256 values for ``plugin.toml``;
- ``clarity plugin fetch ID``: download a plugin's missing weights into the cache.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.core.text import one_line


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``plugin`` subcommand and its actions."""
    p = subparsers.add_parser("plugin", help="create and check plugins (new, check, hash, fetch)")
    actions = p.add_subparsers(dest="plugin_action", metavar="ACTION", required=True)

    new = actions.add_parser("new", help="scaffold a working template plugin (identity filter until trained)")
    new.add_argument("name", help='display name, e.g. "My Denoise" (the id is its slug: my-denoise)')
    new.add_argument("--dir", type=Path, default=None, help="parent folder (default: the user plugin folder)")
    new.add_argument("--task", default="denoise", help="denoise | super-resolution | derain | dehaze | desnow | other")
    new.add_argument("--scale", type=int, default=None, help="output scale (default 2 for super-resolution, else 1)")
    new.add_argument("--force", action="store_true", help="overwrite an existing plugin folder")
    new.set_defaults(func=run_new)

    check = actions.add_parser("check", help="validate a plugin folder (manifest, weights hash and format)")
    check.add_argument("path", type=Path, help="plugin folder or its plugin.toml")
    check.set_defaults(func=run_check)

    hash_ = actions.add_parser("hash", help="print the sha256 of weights files (for plugin.toml)")
    hash_.add_argument("files", nargs="+", type=Path)
    hash_.set_defaults(func=run_hash)

    fetch = actions.add_parser("fetch", help="download a plugin's missing weights (manifest url) into the cache")
    fetch.add_argument("plugin_id", metavar="ID")
    fetch.set_defaults(func=run_fetch)


def run_new(args: argparse.Namespace) -> int:
    """Scaffold the plugin and print where it went."""
    from plugins.registry import user_plugin_dirs
    from plugins.scaffold import scaffold_plugin

    parent = args.dir if args.dir is not None else user_plugin_dirs()[0]
    folder = scaffold_plugin(args.name, parent, task=args.task, scale=args.scale, overwrite=args.force)
    print(f"created plugin '{folder.name}' in {folder}")
    if args.dir is not None:
        print("  (not in a plugin folder searched by default: add it to CLARITY_PLUGIN_PATH to use it)")
    print("  next: edit model.py, train, replace weights.safetensors and its sha256 (`clarity plugin hash`)")
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Exit 0 when the plugin is usable, 1 when its weights are not (the reason is printed)."""
    from plugins.api import WeightsStatus
    from plugins.manifest import load_manifest
    from plugins.weights import check_weights

    manifest = load_manifest(args.path)
    status, reason = check_weights(manifest)
    print(one_line(f"{manifest.id}: manifest ok; weights {status.value}" + (f": {reason}" if reason else "")))
    return 0 if status is WeightsStatus.OK else 1


def run_hash(args: argparse.Namespace) -> int:
    """Print ``<sha256>  <file>`` lines."""
    from engine.core.errors import ClarityError
    from engine.core.hashing import sha256_file

    for file in args.files:
        try:
            print(f"{sha256_file(file)}  {one_line(file)}")
        except OSError as exc:
            raise ClarityError(f"cannot hash {file}: {exc.strerror or exc}") from exc
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    """Download missing weights of plugin ID (hash-verified) with a progress line on stderr."""
    from engine.core.errors import PluginError
    from plugins.registry import PluginRegistry
    from plugins.weights import check_weights, load_weights

    info = PluginRegistry().info(args.plugin_id)
    if info.manifest is None:
        raise PluginError(args.plugin_id, info.reason)

    def progress(done: int, total: int) -> None:
        text = f"{min(done / total, 1.0):6.1%}" if total > 0 else f"{done} bytes"
        print(f"\rdownloading {one_line(args.plugin_id)}: {text}", end="", file=sys.stderr, flush=True)

    load_weights(info.manifest, download=True, progress=progress)
    print(file=sys.stderr)
    status, reason = check_weights(info.manifest)
    print(one_line(f"{args.plugin_id}: weights {status.value}" + (f": {reason}" if reason else "")))
    return 0
