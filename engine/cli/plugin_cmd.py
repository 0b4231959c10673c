"""``clarity plugin``: tools for plugin authors.

- ``clarity plugin new NAME [--dir DIR] [--task TASK] [--scale N] [--force]``: scaffold a working
  template plugin (into the user plugin folder by default);
- ``clarity plugin check PATH``: validate a plugin folder's manifest and weights;
- ``clarity plugin hash FILE...``: print sha256 values for ``plugin.toml``;
- ``clarity plugin fetch ID``: download a plugin's missing weights into the cache;
- ``clarity plugin import MODEL_FILE [--id ID] [--name NAME] [--license TEXT] [--min-tile N] [--dir DIR]``:
  make a plugin from community weights (.pth/.ckpt/.safetensors) through spandrel;
- ``clarity plugin remove ID``: delete a plugin created by ``clarity plugin import``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.core.text import one_line


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``plugin`` subcommand and its actions."""
    p = subparsers.add_parser("plugin", help="create, import and check plugins (new, import, remove, check, hash, fetch)")
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

    imp = actions.add_parser("import", help="make a plugin from a community model file (.pth, .ckpt, .safetensors)")
    imp.add_argument("model_file", type=Path, metavar="MODEL_FILE")
    imp.add_argument("--id", dest="plugin_id", default=None, help="plugin id (default: the file name as a slug)")
    imp.add_argument("--name", default=None, help="display name and Filter-menu label (default: the file name)")
    imp.add_argument("--license", dest="license_text", default=None, help='license of the weights (default "unknown (imported)")')
    imp.add_argument("--min-tile", type=int, default=None,
                     help="smallest tile for models that cannot be tiled exactly (default 512; 0: always whole image)")
    imp.add_argument("--dir", type=Path, default=None, help="parent folder (default: the user plugin folder)")
    imp.set_defaults(func=run_import)

    remove = actions.add_parser("remove", help="delete a plugin created by `clarity plugin import`")
    remove.add_argument("plugin_id", metavar="ID")
    remove.set_defaults(func=run_remove)


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


def run_import(args: argparse.Namespace) -> int:
    """Detect, measure and write the plugin; print what was detected and where it went."""
    from engine.core.errors import ClarityError
    from engine.model_import import inspect_model
    from plugins.community.importer import check_id_free, default_id, write_plugin
    from plugins.community.measure import DEFAULT_MIN_TILE
    from plugins.registry import user_plugin_dirs

    min_tile = DEFAULT_MIN_TILE if args.min_tile is None else args.min_tile
    if min_tile < 0:
        raise ClarityError(f"--min-tile {min_tile} is negative; use 0 to always run on the whole image")
    parent = args.dir if args.dir is not None else user_plugin_dirs()[0]
    check_id_free(args.plugin_id or default_id(args.model_file), parent)  # before the slow part
    print(f"inspecting {args.model_file} (detecting, measuring the receptive field) ...", file=sys.stderr)
    plan = inspect_model(args.model_file, min_tile=min_tile)
    folder = write_plugin(plan, parent, plugin_id=args.plugin_id, name=args.name, license_text=args.license_text)
    for line in plan.summary_lines():
        print(f"  {line}")
    print(f"imported plugin '{folder.name}' into {folder}")
    if args.dir is not None:
        print("  (not in a plugin folder searched by default: add it to CLARITY_PLUGIN_PATH to use it)")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    """Delete an imported plugin's folder."""
    from plugins.community.importer import remove_imported

    folder = remove_imported(args.plugin_id)
    print(f"removed plugin '{args.plugin_id}' ({folder})")
    return 0
