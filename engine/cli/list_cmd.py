"""``clarity list [--json] [--task TASK]``: every discovered plugin with its status.

Reads manifests and hashes weights only; imports neither torch nor plugin code.
The JSON form (``--json``) is an object ``{"version": 1, "plugins": [...]}``; every plugin
entry always has the same keys (``null`` where an invalid manifest leaves them unknown),
see :func:`plugin_to_dict`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

JSON_VERSION = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``list`` subcommand."""
    p = subparsers.add_parser("list", help="list the installed filters (plugins) and their status")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")
    p.add_argument("--task", help="only plugins of this task (denoise, super-resolution, derain, dehaze, desnow, other)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the plugin list; exit code 0 (a broken plugin is reported, not an error)."""
    from engine.core.errors import ParameterError
    from plugins.api import Task
    from plugins.registry import PluginRegistry

    infos = PluginRegistry().plugins()
    task = getattr(args, "task", None)
    if task:
        try:
            wanted = Task(task)
        except ValueError:
            raise ParameterError(f"unknown task '{task}'; use one of: {', '.join(t.value for t in Task)}") from None
        infos = [i for i in infos if i.manifest is not None and i.manifest.task is wanted]
    if args.json:
        text = json.dumps({"version": JSON_VERSION, "plugins": [plugin_to_dict(i) for i in infos]}, indent=2) + "\n"
    else:
        text = format_table(infos)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `clarity list | head`: the reader left; not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def plugin_to_dict(info: Any) -> dict[str, Any]:
    """JSON-ready description of a :class:`plugins.api.PluginInfo` with a fixed set of keys.

    Keys: id, name, version, task, menu, description, license, source, location, status,
    reason, usable, scales, channels, fp16, bf16, tiling, parameters (name, type, label, help,
    min, max, step, default, choices, auto), weights (name, file, sha256, url).
    """
    m = info.manifest
    return {
        "id": info.id,
        "name": m.name if m else None,
        "version": m.version if m else None,
        "task": m.task.value if m else None,
        "menu": m.menu if m else None,
        "description": m.description if m else None,
        "license": m.license if m else None,
        "source": info.source.value,
        "location": str(info.location),
        "status": info.status.value,
        "reason": info.reason,
        "usable": info.usable,
        "scales": list(m.scales) if m else None,
        "channels": list(m.channels) if m else None,
        "fp16": m.fp16 if m else None,
        "bf16": m.bf16 if m else None,
        "tiling": (
            {
                "policy": m.tiling.policy.value,
                "context": m.tiling.context,
                "size_multiple": m.tiling.size_multiple,
                "min_tile": m.tiling.min_tile,
            }
            if m
            else None
        ),
        "parameters": (
            [
                {
                    "name": p.name,
                    "type": p.type.value,
                    "label": p.display_label,
                    "help": p.help,
                    "min": p.minimum,
                    "max": p.maximum,
                    "step": p.step,
                    "default": p.default,
                    "choices": list(p.choices),
                    "auto": p.allow_auto,
                }
                for p in m.parameters
            ]
            if m
            else []
        ),
        "weights": (
            [{"name": w.name, "file": w.file, "sha256": w.sha256, "url": w.url} for w in m.weights] if m else []
        ),
    }


def format_table(infos: list[Any]) -> str:
    """A readable table: one row per plugin, then indented parameter, reason and location lines."""
    from engine.core.text import one_line
    from plugins.params import describe_range

    if not infos:
        return "No plugins found. Create one with `clarity plugin new NAME`.\n"
    rows = [("ID", "NAME", "TASK", "SCALE", "STATUS", "SOURCE")]
    for info in infos:
        m = info.manifest
        rows.append(
            (
                info.id,
                m.name if m else "?",
                m.task.value if m else "?",
                ",".join(f"x{s}" for s in m.scales) if m else "?",
                info.status.value,
                info.source.value,
            )
        )
    rows = [tuple(one_line(cell) for cell in row) for row in rows]
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines: list[str] = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
            continue
        info = infos[index - 1]
        if info.manifest is not None:
            for p in info.manifest.parameters:
                lines.append("    " + one_line(f"param {p.name}: {p.type.value} {describe_range(p)}, default {p.default}"))
        if info.reason:
            lines.append(f"    reason: {one_line(info.reason)}")
        lines.append(f"    location: {one_line(info.location)}")
    return "\n".join(lines) + "\n"
