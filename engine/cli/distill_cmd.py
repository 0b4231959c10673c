"""``clarity distill --config CFG [--out DIR] [--resume CKPT] [--steps N] [--minutes M] [--device D]``.

Two-stage knowledge distillation (see :mod:`engine.training.distill`) from a config with a
``[distill]`` table; same run folder, checkpoints, resume and exit codes as ``clarity train``
(0 finished, 3 more steps remain). ``--train-encoder OUT.safetensors [--encoder-steps N]``
instead trains the frozen contrast encoder (an autoencoder on the config's clean training
crops) for ``contrast_features = "encoder:OUT.safetensors"`` and exits.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.train_cmd import add_common, command_line, prepare, report


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``distill`` subcommand."""
    p = subparsers.add_parser("distill", help="two-stage knowledge distillation of several teachers into one student")
    add_common(p)
    p.add_argument("--train-encoder", type=Path, metavar="OUT", help="train the contrast feature encoder into OUT.safetensors and exit")
    p.add_argument("--encoder-steps", type=int, default=2000, help="autoencoder steps for --train-encoder (default 2000)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Distil (or train the contrast encoder)."""
    text, cfg, out, resume = prepare(args, want_distill=True)
    if args.train_encoder is not None:
        from engine.training.data import load_images
        from engine.training.features import save_encoder, train_encoder
        from engine.training.trainer import pick_device

        images = load_images([Path(f) for f in cfg.data.train], gray=cfg.data.gray)
        enc = train_encoder(
            images, channels=1 if cfg.data.gray else 3, steps=args.encoder_steps, patch=cfg.data.patch,
            batch=cfg.data.batch, device=pick_device(args.device or cfg.run.device), seed=cfg.seed,
            log=None if args.quiet else print,
        )
        print(f"contrast encoder written to {save_encoder(enc, args.train_encoder)}")
        return 0
    from engine.training.distill import Distiller

    trainer = Distiller(
        cfg, out, device=args.device, resume=resume, init=args.init, grow=args.grow, stop_after=args.steps, minutes=args.minutes,
        command=command_line(args), log=None if args.quiet else print,
    )
    trainer.set_config_text(text)
    return report(trainer.run())
