"""Export a training checkpoint into a plugin folder: weights, sha256 in ``plugin.toml``, ``MODEL.md``.

:func:`export_checkpoint` takes the best checkpoint of a run (or a given one), picks the EMA
weights when the checkpoint has them (unless ``use_ema=False``), writes them as
``.safetensors`` (optionally fp16) under the file name of the plugin's ``[[weights]]``
entry called ``weights_name``, writes that file's sha256 into the entry (editing the TOML
text in place, so comments and layout survive; the entry is appended when missing) and
writes a model card ``MODEL.md``: architecture, parameter count, data, steps, wall time,
device, the command lines recorded across resumes, the validation history, and evaluation
tables rendered from ``clarity eval --json`` files. Nothing is written when the network the
entry names could not load the weights (:func:`_check_entry_network`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.core.atomic import atomic_output, atomic_write_text, give_default_mode
from engine.core.errors import ClarityError
from engine.core.hashing import sha256_file
from engine.training.checkpoint import CheckpointMeta, load_checkpoint, unprefixed
from plugins.nets.specs import canonical
from plugins.weights import write_safetensors

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ExportError(ClarityError):
    """The export cannot be done (no plugin.toml, bad weights name, unreadable eval JSON...)."""


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_checkpoint` wrote."""

    weights_path: Path
    sha256: str
    manifest_path: Path
    model_card: Path
    parameters: int
    source: str  # "ema" or "model"
    checkpoint: Path
    step: int


def find_checkpoint(path: Path | str) -> Path:
    """A run folder -> its ``best.safetensors`` (else ``last``); a file is returned as is."""
    p = Path(path)
    if p.is_dir():
        for name in ("best.safetensors", "last.safetensors"):
            if (p / name).is_file():
                return p / name
        raise ExportError(f"run folder {p} has no best.safetensors or last.safetensors; train first (`clarity train`)")
    return p


def set_weights_sha256(
    toml_text: str, weights_name: str, sha256: str, default_file: str, network: str | None = None
) -> tuple[str, str]:
    """Return ``(new_text, file)``: ``toml_text`` with the sha256 of the ``[[weights]]`` entry ``weights_name`` set.

    Edited with :mod:`tomlkit`, so comments, spacing and key order survive: only that entry's
    ``sha256`` value changes (the key is added at the end of the entry if absent). A missing entry is
    appended as a new ``[[weights]]`` table with ``file = default_file``, and ``network = network``
    when the other entries name their network (``network``: the factory of the exported weights).
    """
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        doc = tomlkit.parse(toml_text)
    except TOMLKitError as exc:
        raise ExportError(f"plugin.toml is not valid TOML ({exc}); fix it before exporting") from exc
    entries = doc.get("weights")
    if entries is None:
        entries = tomlkit.aot()
        doc.append("weights", entries)
    entry = next((e for e in entries if e.get("name") == weights_name), None)
    if entry is None:
        table = tomlkit.table()
        table.update({"name": weights_name, "file": default_file, "sha256": sha256})
        if network and any("network" in e for e in entries):
            table["network"] = network
        entries.append(table)
        return tomlkit.dumps(doc), default_file
    entry["sha256"] = sha256
    return tomlkit.dumps(doc), str(entry["file"])


def render_eval_tables(paths: Sequence[Path]) -> str:
    """Markdown table(s) from ``clarity eval --json`` files (a report object or a list of them)."""
    rows: list[dict[str, object]] = []
    for p in paths:
        try:
            data = json.loads(Path(p).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ExportError(f"evaluation JSON {p} cannot be read: {exc}; write it with `clarity eval ... --json FILE`") from exc
        items = data if isinstance(data, list) else data.get("reports", [data]) if isinstance(data, dict) else []
        for r in items:
            if not isinstance(r, dict) or "mean" not in r:
                raise ExportError(f"evaluation JSON {p} is not the output of `clarity eval --json` (no 'mean' scores)")
            rows.append(r)
    if not rows:
        return ""
    out = [
        "| dataset | degradation | method | metric on | PSNR (dB) | SSIM | input PSNR | input SSIM | images |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        m = r["mean"]  # type: ignore[index]
        out.append(
            f"| {r.get('dataset', '?')} | {r.get('degrade', '?')} | {r.get('method', '?')} | {r.get('metric_space', '?')}"
            f"{' shave ' + str(r['shave']) if r.get('shave') else ''} | {_num(m.get('psnr'), 2)} | {_num(m.get('ssim'), 4)} | "  # type: ignore[union-attr]
            f"{_num(m.get('baseline_psnr'), 2)} | {_num(m.get('baseline_ssim'), 4)} | {len(r.get('images', []) or [])} |"  # type: ignore[union-attr, arg-type]
        )
    return "\n".join(out) + "\n"


def _num(v: object, digits: int) -> str:
    return f"{v:.{digits}f}" if isinstance(v, (int, float)) else "-"


def render_model_card(
    *, plugin_id: str, meta: CheckpointMeta, arch: str, args: dict[str, object], parameters: int, source: str,
    weights_file: str, sha256: str, fp16: bool, data: Sequence[str], degradations: Sequence[str], eval_md: str,
) -> str:
    """The ``MODEL.md`` text."""
    hours = meta.wall_seconds / 3600.0
    lines = [
        f"## Training card: {plugin_id}, weights `{weights_file}`",
        "",
        "Generated by `clarity export` from a training checkpoint.",
        "",
        "| | |",
        "| --- | --- |",
        f"| architecture | `{arch}` {json.dumps(args) if args else ''} |",
        f"| parameters | {parameters:,} |",
        f"| weights | `{weights_file}` ({'fp16' if fp16 else 'fp32'}, {source} weights) |",
        f"| sha256 | `{sha256}` |",
        f"| training data | {', '.join(f'`{d}`' for d in data)} |",
        f"| degradations | {', '.join(f'`{d}`' for d in degradations)} |",
        f"| steps | {meta.step} |",
        f"| wall time | {meta.wall_seconds:.0f} s ({hours:.2f} h) |",
        f"| device | {meta.device} |",
    ]
    if meta.best_metric is not None:
        lines.append(f"| best validation PSNR | {meta.best_metric:.3f} dB at step {meta.best_step} |")
    lines += ["", "### Command lines", "", "```"] + (meta.commands or ["(not recorded)"]) + ["```", ""]
    if meta.val_history:
        lines += ["### Validation during training", "", "| step | PSNR (dB) | SSIM |", "| ---: | ---: | ---: |"]
        lines += [f"| {int(v['step'])} | {v['psnr']:.3f} | {v['ssim']:.4f} |" for v in meta.val_history]
        lines.append("")
    if eval_md:
        lines += ["### Evaluation", "", eval_md]
    lines += ["### Training config", "", "```toml", meta.config_toml.rstrip(), "```", ""]
    return "\n".join(lines)


def merge_model_card(existing: str, weights_name: str, card: str) -> str:
    """``existing`` MODEL.md with the training card of ``weights_name`` inserted or replaced.

    The hand-written part of a card (architecture, design notes) is kept; each weights entry's
    generated card lives between its own markers, so exporting ``gray`` never erases ``color``.
    """
    begin, end = f"<!-- clarity-export:{weights_name} begin -->", f"<!-- clarity-export:{weights_name} end -->"
    block = f"{begin}\n{card.rstrip()}\n{end}\n"
    if begin in existing and end in existing:
        head, rest = existing.split(begin, 1)
        return head + block + rest.split(end, 1)[1].lstrip("\n")
    return existing.rstrip() + "\n\n" + block


def export_checkpoint(
    checkpoint: Path | str,
    plugin_dir: Path | str,
    *,
    weights_name: str = "main",
    fp16: bool = False,
    use_ema: bool = True,
    eval_json: Sequence[Path] = (),
) -> ExportResult:
    """Write the checkpoint's weights into ``plugin_dir`` (see the module docstring)."""
    from engine.training.config import TrainConfig

    ckpt = find_checkpoint(checkpoint)
    plugin = Path(plugin_dir)
    manifest = plugin / "plugin.toml"
    if not manifest.is_file():
        raise ExportError(f"{manifest} does not exist; create the plugin first (plugin.toml + model.py), then export into it")
    tensors, meta = load_checkpoint(ckpt)
    ema = unprefixed("ema", tensors)
    source = "ema" if use_ema and ema else "model"
    state = ema if source == "ema" else unprefixed("model", tensors)
    if not state:
        raise ExportError(f"checkpoint {ckpt} holds no model weights")
    out_state = {k: (v.half() if fp16 and v.is_floating_point() else v).contiguous() for k, v in state.items()}
    text = manifest.read_text(encoding="utf-8")
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ExportError(f"{manifest} is not valid TOML ({exc}); fix it before exporting") from exc
    plugin_id = str(parsed.get("id", plugin.name))
    _, file_name = set_weights_sha256(text, weights_name, "0" * 64, f"{weights_name}.safetensors")
    target = (plugin / file_name).resolve()
    if plugin.resolve() not in target.parents:
        raise ExportError(f"weights file '{file_name}' of entry '{weights_name}' leaves the plugin folder; use a plain file name")
    cfg = TrainConfig.from_toml_text(meta.config_toml, source=f"{ckpt} (stored config)")
    network = canonical(cfg.model.arch)
    _check_entry_network(parsed, weights_name, network, dict(cfg.model.args), state, manifest)
    eval_md = render_eval_tables(eval_json)  # before anything is written: a bad --eval-json leaves the plugin as it was
    with atomic_output(target, overwrite=True) as tmp:
        write_safetensors(out_state, tmp, {"arch": cfg.model.arch, "step": str(meta.step), "source": source})
        give_default_mode(tmp)  # safetensors writes 0600; a re-export keeps the existing file's mode
    digest = sha256_file(target)
    new_text, _ = set_weights_sha256(text, weights_name, digest, f"{weights_name}.safetensors", network)
    atomic_write_text(manifest, new_text)
    params = _parameter_count(cfg.model.arch, dict(cfg.model.args), state)
    card = render_model_card(
        plugin_id=plugin_id, meta=meta, arch=cfg.model.arch, args=dict(cfg.model.args), parameters=params, source=source,
        weights_file=file_name, sha256=digest, fp16=fp16, data=cfg.data.train, degradations=cfg.data.degradation,
        eval_md=eval_md,
    )
    card_path = plugin / "MODEL.md"
    existing = card_path.read_text(encoding="utf-8") if card_path.is_file() else f"# {plugin_id}\n"
    atomic_write_text(card_path, merge_model_card(existing, weights_name, card))
    return ExportResult(target, digest, manifest, card_path, params, source, ckpt, meta.step)


def _check_entry_network(
    parsed: dict[str, Any],
    weights_name: str,
    network: str,
    args: dict[str, object],
    state: dict[str, torch.Tensor],
    manifest: Path,
) -> None:
    """Refuse, before anything is written, weights that the network their entry names cannot load.

    The entry's network is built without arguments (as the plugin builds it). The same factory as
    the checkpoint's arch without ``model.args`` is accepted as it is; any other case (another
    factory, e.g. ``upscale_net_deep`` for ``upscale_net`` with ``blocks = 20``, or training
    arguments that may change the shapes) is accepted only when the named network's state dict has
    exactly the checkpoint's tensor names and shapes. An entry that names no network (the plugin's
    entry point decides) accepts any checkpoint.
    """
    entry = next((e for e in parsed.get("weights", []) if e.get("name") == weights_name), None)
    named = entry.get("network") if entry else None
    if not named or (canonical(str(named)) == network and not args):
        return
    trained = f"'{network}'" + (f" with model.args {args}" if args else "")
    mismatch = _state_mismatch(canonical(str(named)), state)
    if mismatch:
        fix = "name a factory that builds the trained network without arguments"
        if canonical(str(named)) != network:
            fix = f"set network = \"{network}\" (or {fix})"
        raise ExportError(
            f"entry '{weights_name}' of {manifest} names network '{named}' but the checkpoint was trained as {trained}, "
            f"which that network cannot load ({mismatch}); {fix} in that entry, then export again"
        )


def _state_mismatch(arch: str, state: dict[str, torch.Tensor]) -> str:
    """Why ``arch`` (built without arguments) cannot load ``state``; empty when names and shapes all match."""
    from engine.training.registry import build_model

    try:
        expected = {k: tuple(v.shape) for k, v in build_model(arch, {}).state_dict().items()}
    except Exception as exc:  # noqa: BLE001 - any failure to build is reported as the reason
        return f"it cannot be built: {exc}"
    got = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(expected.keys() - got.keys())
    unexpected = sorted(got.keys() - expected.keys())
    reshaped = sorted(k for k in expected.keys() & got.keys() if expected[k] != got[k])
    parts = [f"{label} {names[:3]}{' ...' if len(names) > 3 else ''}"
             for label, names in (("missing", missing), ("unexpected", unexpected), ("other shapes", reshaped)) if names]
    return "; ".join(parts)


def _parameter_count(arch: str, args: dict[str, object], state: dict[str, torch.Tensor]) -> int:
    """Trainable parameters of the architecture (built on the CPU); from the state dict if it cannot be built."""
    from engine.training.registry import build_model, count_parameters

    try:
        return count_parameters(build_model(arch, args))
    except Exception:  # noqa: BLE001 - the model card must not fail on an unimportable arch
        buffers = ("running_mean", "running_var", "num_batches_tracked")
        return sum(v.numel() for k, v in state.items() if v.is_floating_point() and not k.endswith(buffers))


def load_exported(path: Path | str) -> dict[str, torch.Tensor]:
    """Read an exported weights file (float32 tensors), e.g. to use it as a distillation teacher."""
    from safetensors.torch import load_file

    return {k: (v.float() if v.is_floating_point() else v) for k, v in load_file(str(path)).items()}
