"""Output naming policy and plan validation: which output each input gets.

A name template is a :meth:`str.format` string with these fields:

- ``{stem}``: input file name without extension (``IMG_001``)
- ``{ext}``: output extension with the dot (``.png``; the input's own when the format is kept,
  ``.png`` for read-only formats such as GIF)
- ``{srcext}``: input extension without the dot (``jpg``), to keep ``a.jpg``/``a.png`` apart
- ``{name}``: input file name (``IMG_001.jpg``)
- ``{plugin}``: id of the last filter of the chain
- ``{index}``: 1-based position of the file in the batch
"""

from __future__ import annotations

import os
import string
from pathlib import Path

from engine.batch.job import FORMAT_EXTENSIONS, BatchJob
from engine.batch.walk import walk_inputs, writable_extensions
from engine.core.errors import ParameterError

TEMPLATE_FIELDS: tuple[str, ...] = ("stem", "ext", "srcext", "name", "plugin", "index")


def check_template(template: str) -> None:
    """Raise :class:`ParameterError` unless ``template`` is a valid name template."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ParameterError(f"name template '{template}' is malformed ({exc}); example: '{{stem}}_denoised{{ext}}'") from exc
    for _, field_name, _, _ in parsed:
        if field_name is not None and field_name not in TEMPLATE_FIELDS:
            raise ParameterError(
                f"name template '{template}' uses unknown field '{{{field_name}}}'; "
                f"available: {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}"
            )
    if "/" in template or "\\" in template:
        raise ParameterError(f"name template '{template}' must be a file name, not a path (no '/')")


def output_extension(source: Path, output_format: str | None) -> str:
    """The extension (with dot) of the output of ``source``.

    Keeping the format keeps the input's extension, except for formats that can only be
    read (GIF), whose outputs are PNG.
    """
    if output_format is None:
        if source.suffix.lower() not in writable_extensions():
            return FORMAT_EXTENSIONS["png"]
        return source.suffix
    return FORMAT_EXTENSIONS[output_format]


def output_name(job: BatchJob, source: Path, index: int) -> str:
    """The output file name of ``source`` (``index`` is 1-based)."""
    name = job.name_template.format(
        stem=source.stem,
        ext=output_extension(source, job.output_format),
        srcext=source.suffix.lstrip("."),
        name=source.name,
        plugin=job.steps[-1].plugin_id,
        index=index,
    )
    if not name or name in (".", "..") or name.startswith("."):
        raise ParameterError(
            f"name template '{job.name_template}' gives the file name '{name}' for {source.name}; "
            "it must give a visible file name, e.g. '{stem}_out{ext}'"
        )
    return name


def _real(path: Path) -> str:
    return os.path.normcase(os.path.realpath(path))


def plan_pairs(job: BatchJob) -> list[tuple[Path, Path]]:
    """``(source, output)`` pairs of ``job`` in walk order; see :func:`engine.batch.plan_batch`."""
    check_template(job.name_template)
    same_dir = _real(job.output_dir) == _real(job.input_dir)
    exclude = [] if same_dir else [job.output_dir, job.effective_report_dir]
    sources = walk_inputs(job.input_dir, recursive=job.recursive, exclude=exclude)
    inputs = {_real(s): s for s in sources}
    pairs: list[tuple[Path, Path]] = []
    seen: dict[str, Path] = {}
    for index, source in enumerate(sources, start=1):
        rel_parent = source.parent.relative_to(job.input_dir)
        output = job.output_dir / rel_parent / output_name(job, source, index)
        key = _real(output)
        if key in seen:
            raise ParameterError(
                f"both '{seen[key]}' and '{source}' would be written to '{output}'; "
                "use a name template that tells them apart, e.g. --name '{stem}_{srcext}{ext}'"
            )
        seen[key] = source
        if key in inputs and not job.overwrite:
            raise ParameterError(
                f"output '{output}' would replace the input '{inputs[key]}'; choose another output folder "
                "or --name template, or pass --overwrite to replace inputs in place"
            )
        pairs.append((source, output))
    return pairs
