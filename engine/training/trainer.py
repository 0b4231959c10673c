"""The training loop: config -> network -> checkpoints, logs, validation, best/last weights.

Contract:

- One :class:`Trainer` runs at most ``stop_after`` steps (or until ``run.steps`` in total, or
  until the time budget is nearly spent) and then writes ``last`` (and ``best`` when
  validation improved) into the run folder. A new Trainer given ``resume=<checkpoint>``
  continues exactly where it stopped: on the CPU, N steps straight and k + resume + (N-k)
  steps give bit-identical weights (model, optimizer, EMA, sampler, degradation and global
  RNG states are all checkpointed).
- The learning rate is a pure function of the step (:mod:`engine.training.schedule`).
- Mixed precision (``run.amp``, :func:`autocast_dtype`): bf16 on CUDA and, when asked for, on the
  CPU; fp16 on CUDA only. ``channels_last`` goes with it (CUDA, or CPU bf16). Validation and the
  BatchNorm recalibration on the CPU run in fp32.
- Subclasses (distillation) override :meth:`build_aux` (extra trained modules, checkpointed
  under ``aux.``), :meth:`compute_loss` and :meth:`stage_of`.

Run-folder layout: ``last.safetensors/.json``, ``best.safetensors/.json``, ``train.csv``,
``val.csv``, ``log.jsonl``, ``plot.png``, ``config.toml`` (the config text of the first run).
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.core.errors import ClarityError
from engine.device import resolve_device
from engine.training.checkpoint import (
    CheckpointMeta,
    capture_rng,
    flatten_optimizer,
    load_checkpoint,
    load_state_file,
    prefixed,
    restore_optimizer,
    restore_rng,
    save_checkpoint,
    unprefixed,
)
from engine.training.config import TrainConfig
from engine.training.ema import EMA
from engine.training.logs import TrainLog, TrainRow, ValRow
from engine.training.losses import pixel_loss
from engine.training.registry import build_model
from engine.training.schedule import lr_for
from plugins.spec import NetworkInput, NetworkSpec

LogFn = Callable[[str], None]


@dataclass(frozen=True)
class TrainResult:
    """What one :meth:`Trainer.run` did.

    ``finished``: the configured ``run.steps`` are all done (otherwise resume from ``last``).
    ``stopped_by``: ``"done"`` | ``"steps"`` (``stop_after`` reached) | ``"time"`` (budget) |
    ``"signal"`` (SIGINT/SIGTERM or :meth:`Trainer.request_stop`).
    """

    out_dir: Path
    step: int
    finished: bool
    stopped_by: str
    last_checkpoint: Path
    best_checkpoint: Path | None
    best_psnr: float | None
    seconds: float
    plot: Path | None


BN_RECALIBRATION_BATCHES = 16
"""Training batches (fresh crops, a fixed seed) over which BatchNorm statistics are re-estimated
for the averaged weights before they are validated or saved (:meth:`Trainer.averaged_state`)."""


def has_batchnorm(net: torch.nn.Module) -> bool:
    """True when ``net`` holds a BatchNorm layer that tracks running statistics."""
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats for m in net.modules())


def pick_device(name: str) -> torch.device:
    """The torch device for ``auto|cpu|cuda|cuda:N|mps``: :func:`engine.device.resolve_device`'s choice and errors."""
    return resolve_device(name).torch_device


def call_network(net: torch.nn.Module, spec: NetworkSpec, x: torch.Tensor, sigma: torch.Tensor | None, scale: int) -> torch.Tensor:
    """The forward adapter the spec describes: ``net(x)``, ``net(x, sigma)`` (``noise_map``) and/or ``scale=`` (``scale_arg``)."""
    args: list[torch.Tensor] = [x]
    if spec.noise_map:
        if sigma is None:
            raise ClarityError("the network takes a noise level (noise_map) but the degradation gives no sigma; use an awgn/camera degradation")
        args.append(sigma.to(x.dtype).view(-1, 1, 1, 1))
    if spec.scale_arg:
        return net(*args, scale=scale)
    return net(*args)


def autocast_dtype(amp: str, device: torch.device, spec: NetworkSpec | None = None) -> torch.dtype | None:
    """The autocast dtype of the training step for ``run.amp`` on ``device`` (``None`` = fp32).

    ``auto``: bf16 on CUDA when the network's spec allows it, fp32 elsewhere (CPU, MPS).
    ``bf16``: on CUDA and the CPU (oneDNN uses AMX / AVX-512 BF16 where the CPU has them).
    ``fp16``: on CUDA only. ``none``: fp32. Weights, optimizer state and the loss stay fp32.
    """
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" and getattr(spec, "bf16", True) else None
    if amp == "bf16" and device.type in ("cuda", "cpu"):
        return torch.bfloat16
    if amp == "fp16" and device.type == "cuda":
        return torch.float16
    return None


def network_input(spec: NetworkSpec, batch) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """``batch.degraded`` or, for a network fed the upsampled image (``NetworkInput.UPSAMPLED``), ``batch.upsampled``."""
    if spec.input is NetworkInput.UPSAMPLED:
        if batch.upsampled is None:
            raise ClarityError("the network takes the upsampled image (input = 'upsampled') but the degradation gives none; use a bicubic:S degradation")
        return batch.upsampled
    return batch.degraded


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    """One training process (see the module docstring)."""

    def __init__(
        self,
        cfg: TrainConfig,
        out_dir: Path | str,
        *,
        device: str | None = None,
        resume: Path | str | None = None,
        init: Path | str | None = None,
        grow: bool = False,
        stop_after: int | None = None,
        minutes: float | None = None,
        command: str = "",
        log: LogFn | None = print,
    ) -> None:
        self.t_start = time.monotonic()
        self.cfg = cfg
        self.out_dir = Path(out_dir)
        if resume is None and (self.out_dir / "last.safetensors").exists():
            raise ClarityError(
                f"run folder {self.out_dir} already holds a checkpoint; continue it with --resume {self.out_dir} "
                "or start afresh with another --out (or delete the folder)"
            )
        if resume is not None and init is not None:
            raise ClarityError("--init starts a new run from given weights and --resume continues a run; give one of them")
        if grow and init is None:
            raise ClarityError("--grow deepens the network of --init weights; give --init too")
        self.device = pick_device(device or cfg.run.device)
        self.stop_after = stop_after
        self.minutes = cfg.run.minutes if minutes is None else minutes
        self.log_fn = log or (lambda _m: None)
        self.cuda = self.device.type == "cuda"
        self.amp_dtype = autocast_dtype(cfg.run.amp, self.device, cfg.model.spec)
        self.eval_amp_dtype = self.amp_dtype if self.cuda else None  # CPU validation stays fp32
        self.channels_last = cfg.model.channels_last and (self.cuda or self.amp_dtype is torch.bfloat16)

        self.spec = cfg.model.spec
        seed_everything(cfg.seed)
        self.net = build_model(cfg.model.arch, cfg.model.args).to(self.device)
        if init is not None:
            self._load_init(Path(init), grow=grow)
        if self.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.aux = self.build_aux()
        if self.aux is not None:
            self.aux = self.aux.to(self.device)
        params = [p for p in self.net.parameters() if p.requires_grad]
        if self.aux is not None:
            params += [p for p in self.aux.parameters() if p.requires_grad]
        o = cfg.optim
        opt_cls = torch.optim.AdamW if o.optimizer == "adamw" else torch.optim.Adam
        self.opt = opt_cls(params, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.cuda and self.amp_dtype is torch.float16)
        self.ema = EMA(self.net, o.ema_decay) if o.ema_decay > 0 else None

        from engine.training.data import CropSampler, load_images, with_rescaled_copies
        from engine.training.degradations import parse_degradation

        originals = load_images([Path(f) for f in cfg.data.train], gray=cfg.data.gray)
        self.images = with_rescaled_copies(originals, cfg.data.rescale, patch=cfg.data.patch)
        self.sampler = CropSampler(self.images, cfg.data.patch, cfg.data.batch, device=self.device, seed=cfg.seed)
        self.degradations = [parse_degradation(s) for s in cfg.data.degradation]
        self.deg_gen = torch.Generator(device=self.device).manual_seed(cfg.seed + 1)
        self.val_deg = parse_degradation(cfg.val.degradation) if cfg.val.every > 0 else None
        self.val_images = load_images([Path(f) for f in cfg.val.folders], gray=cfg.data.gray)[: cfg.val.limit] if self.val_deg else []

        self._stop_requested = False
        self._averaged: tuple[int, dict[str, torch.Tensor]] | None = None
        self.step = 0
        self.wall_before = 0.0
        self.best_psnr: float | None = None
        self.best_step: int | None = None
        self.commands: list[str] = []
        self.val_history: list[dict[str, float]] = []
        if resume is not None:
            self._resume(Path(resume))
        if command:
            self.commands.append(command)
        self.logs = TrainLog(self.out_dir, resume_step=self.step)
        cfg_file = self.out_dir / "config.toml"
        if not cfg_file.exists():
            cfg_file.write_text(self.config_text(), encoding="utf-8")

    # ------------------------------------------------------------------ overridable parts

    def build_aux(self) -> torch.nn.Module | None:
        """Extra trained modules (optimized with the network, checkpointed under ``aux.``)."""
        return None

    def stage_of(self, step: int) -> int:
        """Training stage of ``step`` (1 for plain training)."""
        return 1

    def compute_loss(self, step: int, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # type: ignore[no-untyped-def]
        """Total loss of one batch plus its named terms (detached later for logging)."""
        x = network_input(self.spec, batch)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.train_autocast():
            out = call_network(self.net, self.spec, x, batch.sigma, batch.scale)
        loss = pixel_loss(self.cfg.optim.loss, out, batch.clean, eps=self.cfg.optim.charbonnier_eps)
        return loss, {self.cfg.optim.loss: loss}

    def train_autocast(self) -> torch.autocast:
        """The autocast context of the training forward pass (disabled in fp32)."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None)

    def eval_autocast(self) -> torch.autocast:
        """The autocast context of validation and BatchNorm recalibration (fp32 on the CPU)."""
        dtype = self.eval_amp_dtype
        return torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None)

    # ------------------------------------------------------------------ run

    def config_text(self) -> str:
        """The TOML text recorded in checkpoints (set by the command line; a rendering otherwise)."""
        return getattr(self, "_config_text", "") or _render_config(self.cfg)

    def set_config_text(self, text: str) -> None:
        """Record the exact config file text in checkpoints."""
        self._config_text = text
        (self.out_dir / "config.toml").write_text(text, encoding="utf-8")

    def elapsed(self) -> float:
        """Seconds since this process's trainer was created."""
        return time.monotonic() - self.t_start

    def request_stop(self) -> None:
        """Ask :meth:`run` to stop after the current step and checkpoint (thread/signal safe)."""
        self._stop_requested = True

    def run(self) -> TrainResult:
        """Train until done, ``stop_after`` steps, the time budget, or a stop request; always ends with a checkpoint.

        In the main thread, the first SIGINT/SIGTERM (Ctrl+C, ``timeout``) requests a clean stop
        with a checkpoint; a second one interrupts at once.
        """
        with _stop_on_signals(self):
            return self._run()

    def _run(self) -> TrainResult:
        cfg = self.cfg
        total = cfg.run.steps
        budget = self.minutes * 60.0 if self.minutes > 0 else math.inf
        steps_here = 0
        stopped_by = "done"
        loss_acc = torch.zeros((), device=self.device)
        terms_acc: dict[str, torch.Tensor] = {}
        n_acc = 0
        step_time = 0.0
        ckpt_time = 1.0
        val_time = 0.0
        self.log_fn(f"[train] {cfg.name}: step {self.step}/{total} on {self.device}, {sum(p.numel() for p in self.net.parameters())} parameters")
        while self.step < total:
            if self.stop_after is not None and steps_here >= self.stop_after:
                stopped_by = "steps"
                break
            next_val = cfg.val.every > 0 and (self.step + 1) % cfg.val.every == 0
            reserve = 2 * step_time + ckpt_time + (val_time if next_val else 0.0) + 2.0
            if self.elapsed() + reserve > budget:
                stopped_by = "time"
                break
            if self._stop_requested:
                stopped_by = "signal"
                break
            t0 = time.monotonic()
            loss, terms = self.train_step()
            loss_acc += loss.detach().float()
            for k, v in terms.items():
                terms_acc[k] = terms_acc.get(k, torch.zeros((), device=self.device)) + v.detach().float()
            n_acc += 1
            self.step += 1
            steps_here += 1
            dt = time.monotonic() - t0
            step_time = dt if step_time == 0 else 0.9 * step_time + 0.1 * dt
            if self.step % cfg.run.log_every == 0 or self.step == total:
                mean = float(loss_acc) / n_acc
                if not math.isfinite(mean):
                    raise ClarityError(f"training diverged at step {self.step} (loss {mean}); lower optim.lr or enable optim.grad_clip")
                lr = self.opt.param_groups[0]["lr"]
                terms_f = {k: float(v) / n_acc for k, v in terms_acc.items()}
                self.logs.train(TrainRow(self.step, mean, lr, round(self.wall_before + self.elapsed(), 3)), terms_f)
                parts = " ".join(f"{k}={v:.4g}" for k, v in terms_f.items())
                self.log_fn(f"[train] step {self.step} loss {mean:.5f} lr {lr:.3g} {parts}")
                loss_acc.zero_()
                terms_acc = {}
                n_acc = 0
            improved = False
            if next_val:
                tv = time.monotonic()
                improved = self.validate_and_log()
                val_time = time.monotonic() - tv
            if improved:
                self.save("best")
            if self.step % cfg.run.checkpoint_every == 0:
                tc = time.monotonic()
                self.save("last")
                ckpt_time = time.monotonic() - tc
        if stopped_by == "done" and cfg.val.every > 0 and (not self.val_history or self.val_history[-1]["step"] != self.step):
            # the final weights are the ones a finished run is exported with: always validate them
            if self.validate_and_log():
                self.save("best")
        last = self.save("last")
        plot = self.logs.plot(title=f"{cfg.name} (step {self.step})")
        best = self.out_dir / "best.safetensors"
        self.log_fn(f"[train] stopped at step {self.step}/{total} ({stopped_by}); checkpoint {last}")
        return TrainResult(
            out_dir=self.out_dir,
            step=self.step,
            finished=self.step >= total,
            stopped_by=stopped_by,
            last_checkpoint=last,
            best_checkpoint=best if best.exists() else None,
            best_psnr=self.best_psnr,
            seconds=self.elapsed(),
            plot=plot,
        )

    def train_step(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One optimizer step at ``self.step`` (lr set from the schedule)."""
        lr = lr_for(self.cfg.optim, self.step, self.cfg.run.steps)
        for g in self.opt.param_groups:
            g["lr"] = lr
        self.net.train()
        clean = self.sampler.next()
        deg = self.degradations[self.step % len(self.degradations)]
        batch = deg(clean, self.deg_gen)
        loss, terms = self.compute_loss(self.step, batch)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.optim.grad_clip > 0:
            self.scaler.unscale_(self.opt)
            params = [p for g in self.opt.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.grad_clip)
        self.scaler.step(self.opt)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.net, updates=self.step + 1)
        return loss, terms

    # ------------------------------------------------------------------ validation

    def eval_network(self) -> torch.nn.Module:
        """The network validated and exported: the EMA copy when enabled, else the live one."""
        if self.ema is None or not self.cfg.export.use_ema:
            return self.net
        net = copy.deepcopy(self.net)
        net.load_state_dict(self.averaged_state())
        return net

    def averaged_state(self) -> dict[str, torch.Tensor]:
        """The EMA weights as validated, checkpointed and exported.

        The EMA averages parameters but copies buffers from the live network, so a network with
        BatchNorm would pair averaged weights with running statistics of other (the live) weights:
        mid-run, DnCNN's EMA copy validated at 22.8 dB (sigma 25) where its live weights gave
        ~25.4. For such networks the
        statistics are re-estimated for the averaged weights (train-mode forward passes over
        :data:`BN_RECALIBRATION_BATCHES` fixed-seed training batches, cumulative averages, as
        ``torch.optim.swa_utils.update_bn`` does), once per step. The training RNG streams are
        not touched, so resuming stays bit-identical.
        """
        assert self.ema is not None
        if not has_batchnorm(self.net):
            return self.ema.state_dict()
        if self._averaged is None or self._averaged[0] != self.step:
            net = copy.deepcopy(self.net)
            net.load_state_dict(self.ema.state_dict())
            self.recalibrate_batchnorm(net)
            self._averaged = (self.step, {k: v.detach().clone() for k, v in net.state_dict().items()})
        return self._averaged[1]

    @torch.no_grad()
    def recalibrate_batchnorm(self, net: torch.nn.Module) -> None:
        """Replace ``net``'s BatchNorm running statistics by their averages over fixed training batches."""
        from engine.training.data import CropSampler

        cfg = self.cfg
        layers = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
        momenta = [m.momentum for m in layers]
        for m in layers:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches below
        sampler = CropSampler(self.images, cfg.data.patch, cfg.data.batch, device=self.device, seed=cfg.seed + 1000)
        generator = torch.Generator(device=self.device).manual_seed(cfg.seed + 1001)
        was_training = net.training
        net.train()
        for i in range(BN_RECALIBRATION_BATCHES):
            batch = self.degradations[i % len(self.degradations)](sampler.next(), generator)
            with self.eval_autocast():
                call_network(net, self.spec, network_input(self.spec, batch), batch.sigma, batch.scale)
        for m, momentum in zip(layers, momenta, strict=True):
            m.momentum = momentum
        net.train(was_training)

    @torch.no_grad()
    def validate(self) -> tuple[float, float]:
        """Mean PSNR/SSIM over the validation images: whole-image inference, fixed seed per image.

        Also sets ``self.input_psnr``: the mean PSNR of the unprocessed network input (baseline); for a
        super-resolution network fed the LR image, of its bicubic upsampling (NaN if there is neither).
        """
        from engine.training.metrics import psnr, ssim

        cfg = self.cfg
        net = self.eval_network()
        net.eval()
        ps, ss, base = [], [], []
        for i, img in enumerate(self.val_images):
            clean = img.to(self.device).float().div(255.0)[None]
            gen = torch.Generator(device=self.device).manual_seed(cfg.val.seed + i)
            batch = self.val_deg(clean, gen)  # type: ignore[misc]
            x = network_input(self.spec, batch)
            target = batch.clean  # may be cropped (e.g. SR: to a multiple of the scale)
            # the baseline: the network input itself, or for SR from the LR image its bicubic upsampling
            baseline = x if x.shape == target.shape else batch.upsampled
            if baseline is not None and baseline.shape == target.shape:
                base.append(psnr(baseline.float().clamp(0, 1).cpu().numpy() * 255.0, target.float().cpu().numpy() * 255.0))
            m = self.spec.size_multiple
            ph, pw = (-x.shape[-2]) % m, (-x.shape[-1]) % m
            if ph or pw:
                x = F.pad(x, (0, pw, 0, ph), mode="reflect")
            with self.eval_autocast():
                out = call_network(net, self.spec, x, batch.sigma, batch.scale)
            out = out.float()[..., : target.shape[-2], : target.shape[-1]].clamp(0, 1)
            a = (out[0].permute(1, 2, 0).cpu().numpy() * 255.0).astype(np.float64)
            b = (target[0].float().permute(1, 2, 0).cpu().numpy() * 255.0).astype(np.float64)
            ps.append(psnr(a, b))
            ss.append(ssim(a, b))
        self.net.train()
        self.input_psnr = float(np.mean(base)) if len(base) == len(ps) and base else float("nan")
        return float(np.mean(ps)), float(np.mean(ss))

    def validate_and_log(self) -> bool:
        """Validate, log, and return whether PSNR beat the best so far."""
        p, s = self.validate()
        self.logs.val(ValRow(self.step, p, s, round(self.wall_before + self.elapsed(), 3), self.input_psnr))
        self.val_history.append({"step": self.step, "psnr": p, "ssim": s})
        self.log_fn(f"[val] step {self.step} PSNR {p:.3f} dB SSIM {s:.4f} (input {self.input_psnr:.3f} dB)")
        if self.best_psnr is None or p > self.best_psnr:
            self.best_psnr, self.best_step = p, self.step
            return True
        return False

    # ------------------------------------------------------------------ checkpoints

    def generators(self) -> dict[str, torch.Generator]:
        """Every RNG whose state must survive a resume."""
        return {"sampler": self.sampler.generator, "degradation": self.deg_gen}

    def save(self, which: str) -> Path:
        """Write ``<out>/<which>.safetensors`` + ``.json`` (``which``: last | best)."""
        tensors = prefixed("model", self.net.state_dict())
        if self.ema is not None:
            tensors.update(prefixed("ema", self.averaged_state()))
        if self.aux is not None:
            tensors.update(prefixed("aux", self.aux.state_dict()))
        opt_t, opt_meta = flatten_optimizer(self.opt)
        tensors.update(opt_t)
        rng_t, py, npst = capture_rng(self.generators())
        tensors.update(rng_t)
        meta = CheckpointMeta(
            step=self.step,
            config_toml=self.config_text(),
            optimizer=opt_meta,
            py_random=py,
            np_random=npst,
            scaler=self.scaler.state_dict() if self.scaler.is_enabled() else {},
            best_metric=self.best_psnr,
            best_step=self.best_step,
            commands=list(self.commands),
            wall_seconds=round(self.wall_before + self.elapsed(), 3),
            device=_device_name(self.device),
            stage=self.stage_of(max(0, self.step - 1)),
            val_history=list(self.val_history),
        )
        return save_checkpoint(self.out_dir / which, tensors, meta)

    def _load_init(self, path: Path, *, grow: bool = False) -> None:
        """Start from the weights in ``path`` (exported weights or a checkpoint; its EMA copy first).

        Only the network weights are taken: the optimizer, the schedule (warm-up included), the
        EMA warm-up and the step counter start afresh, so this is a fine-tuning run. With ``grow``
        the network may hold residual blocks (or, for a RED-Net, layers) the weights lack: they start
        as identities (:func:`engine.training.grow.grow_state`), so step 0 computes what the weights
        computed.
        """
        state = load_state_file(path)
        if grow:
            from engine.training.grow import grow_state

            added = grow_state(self.net, state)
            self.log_fn(f"[train] initialised from {path}, grown by {len(added)} identity blocks or layers: {', '.join(added) or 'none'}")
            return
        try:
            self.net.load_state_dict(state)
        except RuntimeError as exc:
            hint = " (a deeper network of the same family? add --grow)" if "Missing key" in str(exc) and "Unexpected key" not in str(exc) else ""
            raise ClarityError(f"--init weights {path} do not fit model.arch '{self.cfg.model.arch}'{hint}: {exc}") from exc
        self.log_fn(f"[train] initialised from {path}")

    def _resume(self, path: Path) -> None:
        # loaded on the CPU: load_state_dict moves tensors to the parameters' device, and keeps
        # Adam's "step" counters on the CPU as non-capturable optimizers expect
        tensors, meta = load_checkpoint(path, device="cpu")
        try:
            self.net.load_state_dict(unprefixed("model", tensors))
            if self.ema is not None:
                ema_sd = unprefixed("ema", tensors)
                self.ema.load_state_dict(ema_sd if ema_sd else {k: v.float() for k, v in self.net.state_dict().items()})
            if self.aux is not None:
                self.aux.load_state_dict(unprefixed("aux", tensors))
            restore_optimizer(self.opt, tensors, meta.optimizer)
        except (RuntimeError, KeyError, ValueError) as exc:
            raise ClarityError(f"checkpoint {path} does not fit this config ({exc}); resume with the config it was trained with") from exc
        if meta.scaler and self.scaler.is_enabled():
            self.scaler.load_state_dict(meta.scaler)
        restore_rng(tensors, meta.py_random, meta.np_random, self.generators())
        self.step = meta.step
        self.wall_before = meta.wall_seconds
        self.best_psnr, self.best_step = meta.best_metric, meta.best_step
        self.commands = list(meta.commands)
        self.val_history = list(meta.val_history)
        self.log_fn(f"[train] resumed from {path} at step {self.step}")


@contextlib.contextmanager
def _stop_on_signals(trainer: Trainer) -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM call ``trainer.request_stop()`` once, then act as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, _frame: object) -> None:
        if trainer._stop_requested:
            raise KeyboardInterrupt
        trainer.log_fn(f"[train] signal {signum}: stopping after this step with a checkpoint (again to abort)")
        trainer.request_stop()

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def _render_config(cfg: TrainConfig) -> str:
    """A TOML rendering of ``cfg`` (used when no config file text was recorded)."""
    import dataclasses

    def val(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (tuple, list)):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + " }"
        raise TypeError(type(v))

    lines = [f"name = {val(cfg.name)}", f"seed = {cfg.seed}"]
    for f in dataclasses.fields(cfg):
        sub = getattr(cfg, f.name)
        if dataclasses.is_dataclass(sub):
            lines.append(f"\n[{f.name}]")
            for g in dataclasses.fields(sub):
                if getattr(sub, g.name) is not None:  # not given (e.g. model.noise_map of a network with a spec)
                    lines.append(f"{g.name} = {val(getattr(sub, g.name))}")
    return "\n".join(lines) + "\n"
