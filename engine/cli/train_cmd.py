"""``clarity train --config CFG [--out DIR] [--resume CKPT] [--steps N] [--minutes M] [--device D]``.

Trains a network from a TOML config (see docs/training.md) into a run folder with
``last``/``best`` checkpoints, logs and a plot. ``--steps N`` runs at most N steps in this
command (the schedule still spans ``run.steps``), ``--minutes M`` is this command's time
budget: it stops cleanly and checkpoints before it runs out. Re-run with ``--resume
DIR/last.safetensors`` (or ``--resume DIR``) to continue; the result is the same as one
uninterrupted run. Exit code 0 when all steps are done, 3 when more remain (resume).
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from engine.cli.options import add_device_option

EXIT_MORE_TO_DO = 3


def add_common(p: argparse.ArgumentParser) -> None:
    """Options shared by ``train`` and ``distill``."""
    p.add_argument("--config", type=Path, help="training config TOML (optional with --resume: the checkpoint's copy is used)")
    p.add_argument("--out", type=Path, help="run folder (default: .runs/<name>, or the checkpoint's folder on resume)")
    p.add_argument("--resume", type=Path, help="checkpoint to continue from (DIR, DIR/last.safetensors or .json)")
    p.add_argument("--init", type=Path, help="start from these weights (exported .safetensors or a checkpoint): a fine-tuning run with a fresh optimizer, warm-up and EMA")
    p.add_argument(
        "--grow", action="store_true",
        help="with --init: the network may have residual blocks (a RED-Net: layers) the weights lack; they start as identities, so training starts from exactly the weights' function",
    )
    p.add_argument("--steps", type=int, help="run at most N steps in this command (the schedule still spans run.steps)")
    p.add_argument("--minutes", type=float, help="time budget of this command in minutes (overrides run.minutes)")
    add_device_option(p, indexed=True, default=None, note=" (overrides run.device)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (torch.set_num_threads); 1 helps on a busy machine")
    p.add_argument("--quiet", action="store_true", help="print only the final line")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    p = subparsers.add_parser("train", help="train a restoration network from a TOML config (resumable)")
    add_common(p)
    p.set_defaults(func=run)


def prepare(args: argparse.Namespace, *, want_distill: bool):  # type: ignore[no-untyped-def]
    """Resolve config text, config, run folder and resume checkpoint from the arguments."""
    from engine.core.errors import ClarityError
    from engine.training.checkpoint import read_meta, stem_of

    if getattr(args, "threads", None) is not None:
        import torch

        if args.threads < 1:
            raise ClarityError(f"--threads {args.threads} must be >= 1")
        torch.set_num_threads(args.threads)
    from engine.training.config import TrainConfig

    resume = args.resume
    if resume is not None and resume.is_dir():
        resume = resume / "last.safetensors"
    if args.config is not None:
        text = args.config.read_text(encoding="utf-8") if args.config.is_file() else None
        if text is None:
            raise ClarityError(f"config file {args.config} does not exist")
        source = str(args.config)
    elif resume is not None:
        meta = read_meta(resume)
        text, source = meta.config_toml, f"{resume} (stored config)"
    else:
        raise ClarityError("give --config CFG.toml (or --resume CKPT to continue with the checkpoint's config)")
    cfg = TrainConfig.from_toml_text(text, source=source)
    if want_distill and cfg.distill is None:
        raise ClarityError(f"{source} has no [distill] table; use `clarity train` for plain training")
    if not want_distill and cfg.distill is not None:
        raise ClarityError(f"{source} has a [distill] table; run it with `clarity distill`")
    if args.out is not None:
        out = args.out
    elif resume is not None:
        out = stem_of(resume).parent
    else:
        out = Path(".runs") / cfg.name
    return text, cfg, out, resume


def command_line(args: argparse.Namespace) -> str:
    """The command line, rebuilt from the parsed options (recorded in checkpoints for the model card)."""
    parts = ["clarity", args.command]
    for opt in ("config", "out", "resume", "init", "steps", "minutes", "device", "threads"):
        value = getattr(args, opt, None)
        if value is not None:
            parts += [f"--{opt}", shlex.quote(str(value))]
        if opt == "init" and getattr(args, "grow", False):
            parts.append("--grow")
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    """Train; 0 when finished, 3 when stopped early (resume to continue)."""
    from engine.training.trainer import Trainer

    text, cfg, out, resume = prepare(args, want_distill=False)
    trainer = Trainer(
        cfg, out, device=args.device, resume=resume, init=args.init, grow=args.grow, stop_after=args.steps, minutes=args.minutes,
        command=command_line(args), log=None if args.quiet else print,
    )
    trainer.set_config_text(text)
    return report(trainer.run())


def report(result) -> int:  # type: ignore[no-untyped-def]
    """Print the one-line summary and choose the exit code."""
    best = f", best val PSNR {result.best_psnr:.3f} dB" if result.best_psnr is not None else ""
    state = "finished" if result.finished else f"stopped ({result.stopped_by}); resume with --resume {result.last_checkpoint}"
    print(f"{state}: step {result.step}{best}; run folder {result.out_dir}" + (f"; plot {result.plot}" if result.plot else ""))
    return 0 if result.finished else EXIT_MORE_TO_DO
