"""Removing temporary files an interrupted batch left behind (SIGKILL, power loss).

:func:`engine.core.atomic.atomic_output` names its temporary files ``.~<stem>.<8 hex digits><suffix>``
next to the target; a process killed before its ``finally`` ran leaves them. When a batch
starts, :func:`remove_stale_temps` deletes exactly those of *its planned outputs* and of their
provenance records: regular files (never links) whose name matches that pattern for a
planned name. Nothing else is touched. Do not run two batches into the same output folder at
the same time.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from engine.batch.provenance import record_path

__all__ = ["remove_stale_temps", "temp_pattern"]


def temp_pattern(target: Path) -> re.Pattern[str]:
    """The names :func:`engine.core.atomic.atomic_output` gives temporary files for ``target``."""
    return re.compile(re.escape(f".~{target.stem}.") + r"[0-9a-f]{8}" + re.escape(target.suffix))


def _targets(pairs: Sequence[tuple[Path, Path]]) -> Iterable[Path]:
    for _, output in pairs:
        yield output
        yield record_path(output)


def remove_stale_temps(pairs: Sequence[tuple[Path, Path]]) -> list[Path]:
    """Delete leftover temp files of the planned outputs (and their records); return them."""
    by_folder: dict[Path, list[re.Pattern[str]]] = {}
    for target in _targets(pairs):
        by_folder.setdefault(target.parent, []).append(temp_pattern(target))
    removed: list[Path] = []
    for folder, patterns in by_folder.items():
        try:
            names = [n for n in os.listdir(folder) if n.startswith(".~")]
        except OSError:
            continue
        for name in names:
            if not any(p.fullmatch(name) for p in patterns):
                continue
            path = folder / name
            try:
                if stat.S_ISREG(os.lstat(path).st_mode):
                    path.unlink()
                    removed.append(path)
            except OSError:
                continue
    return removed
