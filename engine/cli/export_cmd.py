"""``clarity export --ckpt CKPT --plugin-dir DIR [--weights-name main] [--fp16] [--no-ema] [--eval-json F ...]``.

Writes a checkpoint's weights (EMA when present) into a plugin folder, sets the sha256 of
the ``[[weights]]`` entry in its ``plugin.toml`` and writes ``MODEL.md``. ``--ckpt`` may be a
run folder (its best checkpoint, else last). Defaults for the plugin folder, weights name and
fp16 come from the checkpoint's ``[export]`` config table.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` subcommand."""
    p = subparsers.add_parser("export", help="export trained weights into a plugin folder (sha256 + model card)")
    p.add_argument("--ckpt", type=Path, required=True, help="checkpoint .safetensors, or a run folder (best, else last)")
    p.add_argument("--plugin-dir", type=Path, help="plugin folder holding plugin.toml (default: the config's export.plugin_dir)")
    p.add_argument("--weights-name", help="name of the [[weights]] entry (default: export.weights_name, 'main')")
    p.add_argument("--fp16", action="store_true", default=None, help="store the weights in half precision")
    p.add_argument("--no-ema", action="store_true", help="export the raw weights even when EMA weights exist")
    p.add_argument(
        "--eval-json", type=Path, nargs="*", action="extend", default=[],
        help="`clarity eval --json` outputs for the model card (several after one flag, or the flag repeated)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export and print what was written."""
    from engine.core.errors import ClarityError
    from engine.training.checkpoint import read_meta
    from engine.training.config import TrainConfig
    from engine.training.export import export_checkpoint, find_checkpoint

    ckpt = find_checkpoint(args.ckpt)
    meta = read_meta(ckpt)
    exp = TrainConfig.from_toml_text(meta.config_toml, source=f"{ckpt} (stored config)").export
    plugin_dir = args.plugin_dir or (Path(exp.plugin_dir) if exp.plugin_dir else None)
    if plugin_dir is None:
        raise ClarityError("give --plugin-dir DIR (the config has no export.plugin_dir)")
    result = export_checkpoint(
        ckpt,
        plugin_dir,
        weights_name=args.weights_name or exp.weights_name,
        fp16=exp.fp16 if args.fp16 is None else True,
        use_ema=exp.use_ema and not args.no_ema,
        eval_json=args.eval_json,
    )
    print(
        f"exported step {result.step} ({result.source} weights, {result.parameters:,} parameters) to {result.weights_path}; "
        f"sha256 {result.sha256} written to {result.manifest_path}; model card {result.model_card}"
    )
    return 0
