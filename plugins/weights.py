"""Weights files: locate, hash, verify, download and load ``.safetensors`` state dicts.

Safety contract:

- only the safetensors format is ever read; pickles and torch zip checkpoints (``.pt``, ``.pth``,
  ``.ckpt``, ``.bin`` or any file whose bytes are not a safetensors header) are refused with a
  :class:`engine.core.errors.WeightsError` and never unpickled;
- every file's sha256 is checked against the manifest BEFORE any tensor is read;
- downloads go to a temporary file in the cache, are hash-verified, then atomically renamed.

A weights file is looked up first in the plugin folder, then in the download cache
(``cache_dir()/weights/<plugin id>/<file>``). :func:`check_weights` imports no torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from engine.core.atomic import give_default_mode
from engine.core.errors import WeightsError
from engine.core.files import open_regular
from engine.core.hashing import sha256_file_cached
from plugins.api import Manifest, WeightsBundle, WeightsFileSpec, WeightsStatus

if TYPE_CHECKING:  # pragma: no cover
    import torch

DownloadProgress = Callable[[int, int], None]
"""``progress(done_bytes, total_bytes)``; ``total_bytes`` is 0 when the server does not say."""

NOT_TRAINED_REASON = "weights not trained yet"
_CHUNK = 1 << 20
_MAX_HEADER = 100 * 1024 * 1024
_MAX_HEADER_DEPTH = 8  # a safetensors header nests 3 deep ({name: {"shape": [..]}})
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def cache_dir() -> Path:
    """Download cache folder: ``$CLARITY_CACHE_DIR`` if set, else the platform user cache folder."""
    env = os.environ.get("CLARITY_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("clarity-studio"))


def cached_weights_path(manifest: Manifest, spec: WeightsFileSpec) -> Path:
    """Where a downloaded copy of ``spec`` lives: ``cache_dir()/weights/<plugin id>/<file>``."""
    return cache_dir() / "weights" / manifest.id / spec.file


def weights_path(manifest: Manifest, spec: WeightsFileSpec) -> Path | None:
    """The existing file for ``spec`` (plugin folder first, then the download cache), or ``None``."""
    for candidate in (manifest.folder / spec.file, cached_weights_path(manifest, spec)):
        if os.path.exists(candidate):
            return candidate  # a FIFO or device here is refused by _verify, never opened
    return None


def json_too_deep(data: bytes, limit: int = _MAX_HEADER_DEPTH) -> bool:
    """True when the JSON text ``data`` nests arrays/objects deeper than ``limit``.

    Scans tokens (strings skipped) and stops at the first level past ``limit``, so a crafted
    header of 100,000 nested arrays costs microseconds and never reaches ``json.loads`` (whose
    recursion it would exhaust).
    """
    depth = 0
    for match in _JSON_TOKEN.finditer(data):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def safetensors_problem(path: Path) -> str | None:
    """``None`` if ``path`` starts with a valid safetensors header, else why it does not.

    Reads only the 8-byte length and the JSON header (at most 100 MiB, nested at most
    8 deep); never unpickles anything, never opens a FIFO or device. The structure is checked
    first: a real safetensors file whose header length happens to begin with a pickle's or a
    zip's magic byte(s) (a length of 0x..80 or 0x..4B50) is still safetensors. Only a file that
    is not is named by its magic (zip archive, pickle).
    """
    try:
        with open_regular(path) as handle:
            head = handle.read(8)
            if len(head) < 8:
                return "file is too short to be safetensors"
            (length,) = struct.unpack("<Q", head)
            size = os.fstat(handle.fileno()).st_size
            header = b""
            if 0 < length <= _MAX_HEADER and length + 8 <= size:
                header = handle.read(length)
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    if header:
        if json_too_deep(header):
            return f"its header nests deeper than {_MAX_HEADER_DEPTH} levels (a crafted file?)"
        try:
            if isinstance(json.loads(header.decode("utf-8")), dict):
                return None
        except (UnicodeDecodeError, ValueError, RecursionError):
            pass
    if head[:2] == b"PK":
        return "it is a zip archive (a torch.save checkpoint), not safetensors"
    if head[:1] == b"\x80":
        return "it is a Python pickle, not safetensors"
    return "its bytes are not a safetensors header"


def write_safetensors(state: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    """Save ``state`` to ``path`` as safetensors, the same bytes for the same tensors and metadata.

    safetensors writes ``__metadata__`` from a hash map, in an order that changes from run to run, so two
    saves of the same weights had different sha256; the keys are rewritten sorted. That changes no length
    (same keys and values), so the header keeps its size and the tensor data is untouched. The file is
    written in place (callers use a temporary path and rename it) with safetensors' 0600 mode.
    """
    from safetensors.torch import save_file

    save_file(state, str(path), metadata=metadata)
    if not metadata:
        return
    with open(path, "r+b") as f:
        size = int.from_bytes(f.read(8), "little")
        raw = f.read(size)
        header = json.loads(raw)
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if len(text) > size or raw[len(text):].strip(b" "):
            return  # not the compact layout this expects: keep the file as safetensors wrote it
        f.seek(8)
        f.write(text + b" " * (size - len(text)))


def check_weights(manifest: Manifest) -> tuple[WeightsStatus, str]:
    """Status of the plugin's weights and the reason when not OK (no torch import).

    - ``MISSING``: a file is absent (reason ``"weights not trained yet"`` when its sha256 is
      empty, else where it was expected and whether it can be downloaded);
    - ``HASH_MISMATCH``: a file's sha256 differs (reason gives expected and actual prefixes), or a
      file exists while the manifest records no sha256;
    - ``IMPORT_ERROR``: a file has the right hash but is not safetensors (a pickle: refused);
    - ``OK`` with reason ``""`` otherwise.
    """
    for spec in manifest.weights:
        try:
            _verify(manifest, spec)
        except _Problem as problem:
            return problem.status, problem.reason
    return WeightsStatus.OK, ""


def load_weights(
    manifest: Manifest,
    *,
    download: bool = False,
    progress: DownloadProgress | None = None,
) -> WeightsBundle:
    """Every weights file of ``manifest`` as state dicts, hash-checked before reading.

    ``download=True`` fetches missing files that have a ``url`` into the cache first.
    Raises :class:`WeightsError` for a missing file, a hash mismatch or a non-safetensors file.
    """
    state_dicts = {}
    for spec in manifest.weights:
        if download and spec.url and weights_path(manifest, spec) is None:
            download_weights(spec, cached_weights_path(manifest, spec), progress, plugin_id=manifest.id)
        try:
            path = _verify(manifest, spec)
        except _Problem as problem:
            raise WeightsError(manifest.id, problem.reason) from None
        state_dicts[spec.name] = _read_safetensors(path, manifest.id)
    return WeightsBundle(state_dicts)


MAX_DOWNLOAD_BYTES = 2 << 30
"""Largest download when the manifest gives no ``size``."""


def download_deadline(expected_bytes: int) -> float:
    """Total seconds a download of ``expected_bytes`` may take: 30 s plus 4 s per MiB, at most 1 h."""
    return min(3600.0, 30.0 + 4.0 * expected_bytes / (1 << 20))


def _content_length(value: str | None) -> int:
    """The server's Content-Length as a byte count; 0 when absent, malformed or negative."""
    try:
        length = int(value or 0)
    except ValueError:
        return 0
    return max(0, length)


def download_weights(
    spec: WeightsFileSpec,
    dest: Path,
    progress: DownloadProgress | None = None,
    *,
    plugin_id: str = "?",
    timeout: float = 30.0,
    deadline: float | None = None,
) -> Path:
    """Download ``spec.url`` to ``dest`` (a file path), verifying ``spec.sha256``; returns ``dest``.

    Writes ``dest``'s folder/``.<name>.<random>.part`` first and renames it over ``dest`` with
    :func:`os.replace` only after the hash matched, so ``dest`` is never half-written. Never
    fetches more than ``spec.size`` bytes (or :data:`MAX_DOWNLOAD_BYTES`), and gives up after
    ``deadline`` seconds in all (default :func:`download_deadline`; ``timeout`` bounds each
    wait for data). On a mismatch, a cut, an overrun or a network error the temporary file is
    deleted and :class:`WeightsError` raised with a one-line reason.
    """
    import tempfile
    import time
    import urllib.error
    import urllib.request

    from engine.core.text import one_line

    if not spec.url:
        raise WeightsError(plugin_id, f"weights '{spec.name}' have no url to download from; copy {spec.file} into the plugin folder")
    if not spec.sha256:
        raise WeightsError(plugin_id, f"weights '{spec.name}' have no sha256, so a download cannot be verified")
    cap = spec.size or MAX_DOWNLOAD_BYTES
    if deadline is None:
        deadline = download_deadline(spec.size or 256 << 20)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    temp = Path(temp_name)
    digest = hashlib.sha256()
    started = time.monotonic()
    total = done = 0
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(spec.url, timeout=min(timeout, deadline)) as response:  # noqa: S310 (http(s) checked in manifest)
                    total = _content_length(response.headers.get("Content-Length"))
                    if total > cap:
                        raise WeightsError(
                            plugin_id,
                            f"{spec.url} announces {total} bytes, more than the {cap} expected for {spec.file}; "
                            "nothing was downloaded (wrong url?)",
                        )
                    if progress:
                        progress(0, total)
                    while chunk := response.read1(min(_CHUNK // 4, cap + 1 - done)):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if done > cap:
                            raise WeightsError(
                                plugin_id,
                                f"{spec.url} sent more than the {cap} bytes expected for {spec.file}; "
                                "the download was stopped and discarded (wrong url?)",
                            )
                        if time.monotonic() - started > deadline:
                            raise WeightsError(
                                plugin_id,
                                f"downloading {spec.url} took longer than {deadline:.0f} s ({done} bytes received); "
                                "the server is too slow or stalled, try again later",
                            )
                        if progress:
                            progress(done, total)
            except WeightsError:
                raise
            except (urllib.error.URLError, OSError, ValueError, http_client_errors()) as exc:
                raise WeightsError(
                    plugin_id, f"downloading {spec.url} failed: {one_line(exc)}; check the network or the url"
                ) from exc
        if total and done < total:
            raise WeightsError(
                plugin_id,
                f"the download of {spec.file} from {spec.url} was cut off after {done} of {total} bytes; "
                "the partial file was discarded, try again",
            )
        actual = digest.hexdigest()
        if actual != spec.sha256:
            raise WeightsError(
                plugin_id,
                f"downloaded {spec.file} from {spec.url} has sha256 {actual[:12]}..., expected {spec.sha256[:12]}...; "
                "the file was discarded (the server has a different version?)",
            )
        give_default_mode(temp)  # mkstemp creates 0600; weights get the normal 0644 (umask)
        os.replace(temp, dest)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return dest


def http_client_errors() -> type[Exception]:
    """``http.client.HTTPException`` (incomplete reads, bad status lines)."""
    import http.client

    return http.client.HTTPException


class _Problem(Exception):
    def __init__(self, status: WeightsStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _verify(manifest: Manifest, spec: WeightsFileSpec) -> Path:
    """The verified path of ``spec``'s file, or raise :class:`_Problem`."""
    path = weights_path(manifest, spec)
    if path is None:
        if not spec.sha256:
            raise _Problem(WeightsStatus.MISSING, NOT_TRAINED_REASON)
        fix = (
            "download it with `clarity plugin fetch " + manifest.id + "`"
            if spec.url
            else f"copy the file into {manifest.folder}"
        )
        raise _Problem(WeightsStatus.MISSING, f"weights file {spec.file} not found in {manifest.folder}; {fix}")
    try:
        actual = sha256_file_cached(path)
    except OSError as exc:
        raise _Problem(WeightsStatus.MISSING, f"cannot read weights file {path}: {exc.strerror or exc}") from exc
    if not spec.sha256:
        raise _Problem(
            WeightsStatus.HASH_MISMATCH,
            f"{spec.file} exists but plugin.toml records no sha256; add sha256 = \"{actual}\"",
        )
    if actual != spec.sha256:
        raise _Problem(
            WeightsStatus.HASH_MISMATCH,
            f"{spec.file}: sha256 {actual[:12]}... does not match expected {spec.sha256[:12]}... "
            "(corrupted or replaced file; reinstall the plugin)",
        )
    problem = safetensors_problem(path)
    if problem:
        raise _Problem(WeightsStatus.IMPORT_ERROR, f"{spec.file} refused: {problem} (only .safetensors weights are loaded)")
    return path


def _read_safetensors(path: Path, plugin_id: str) -> dict:
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # noqa: BLE001 - a crafted file must fail as this plugin's problem
        from engine.core.text import one_line

        raise WeightsError(plugin_id, f"{path.name} is not a readable safetensors file: {one_line(exc)}") from exc
