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
import re
import string
from pathlib import Path

from engine.batch.job import FORMAT_EXTENSIONS, BatchJob
from engine.batch.walk import walk_inputs, writable_extensions
from engine.core.errors import ParameterError

TEMPLATE_FIELDS: tuple[str, ...] = ("stem", "ext", "srcext", "name", "plugin", "index")

MAX_NAME_BYTES = 255
"""Longest file name (UTF-8 bytes) most file systems accept; longer template results are refused."""

MAX_TEMPLATE_CHARS = 1024
"""Longest accepted name template."""

_SPEC_NUMBERS = re.compile(r"\d+")
_SAMPLE = {"stem": "IMG_0001", "ext": ".png", "srcext": "jpg", "name": "IMG_0001.jpg", "plugin": "denoise", "index": 1}


def check_template(template: str) -> None:
    """Raise :class:`ParameterError` unless ``template`` is a valid name template.

    Checked before any file is touched: the fields (only :data:`TEMPLATE_FIELDS`, no attribute
    or index access), each format spec (no nested fields, widths and precisions of at most
    :data:`MAX_NAME_BYTES`, and it must format a sample value), no path separator, and the
    length of a sample result. :func:`output_name` checks every real name's length.
    """
    from engine.core.text import one_line

    shown = one_line(template if len(template) <= 80 else template[:77] + "...")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise ParameterError(f"name template '{shown}' is longer than {MAX_TEMPLATE_CHARS} characters")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ParameterError(f"name template '{shown}' is malformed ({exc}); example: '{{stem}}_denoised{{ext}}'") from exc
    for _, field_name, spec, _ in parsed:
        if field_name is None:
            continue
        if field_name not in TEMPLATE_FIELDS:
            raise ParameterError(
                f"name template '{shown}' uses unknown field '{{{one_line(field_name)}}}'; "
                f"available: {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}"
            )
        if spec and ("{" in spec or "}" in spec):
            raise ParameterError(f"name template '{shown}': the format of {{{field_name}}} may not contain fields")
        if spec and any(int(n) > MAX_NAME_BYTES for n in _SPEC_NUMBERS.findall(spec)):
            raise ParameterError(
                f"name template '{shown}': the format '{{{field_name}:{one_line(spec)}}}' asks for more than "
                f"{MAX_NAME_BYTES} characters; a file name is at most {MAX_NAME_BYTES} bytes"
            )
    if "/" in template or "\\" in template:
        raise ParameterError(f"name template '{shown}' must be a file name, not a path (no '/')")
    try:
        sample = template.format(**_SAMPLE)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ParameterError(f"name template '{shown}' cannot be used: {one_line(exc)}; example: '{{index:03d}}_{{stem}}{{ext}}'") from exc
    if len(sample.encode("utf-8")) > MAX_NAME_BYTES:
        raise ParameterError(f"name template '{shown}' gives names longer than {MAX_NAME_BYTES} bytes")


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
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise ParameterError(
            f"name template '{job.name_template}' gives a file name of {len(name.encode('utf-8', 'surrogateescape'))} "
            f"bytes for {source.name}; file names are at most {MAX_NAME_BYTES} bytes: shorten the template"
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
