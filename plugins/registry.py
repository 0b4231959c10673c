"""Plugin discovery, status and lazy loading.

Sources, in priority order (the first one providing an id wins; later copies are listed
with status ``INVALID_MANIFEST`` and a reason naming the winner):

1. built-in: sub-folders of the ``plugins`` package holding a ``plugin.toml``;
2. user folders: ``$CLARITY_PLUGIN_PATH`` (``os.pathsep``-separated) or else
   ``platformdirs.user_data_dir("clarity-studio")/plugins``; each sub-folder with a
   ``plugin.toml`` is a plugin (a folder that itself holds ``plugin.toml`` counts too);
3. entry points of the group ``clarity.plugins``: each names a module or package whose folder
   holds ``plugin.toml``. The folder is found with :func:`importlib.util.find_spec`, which does
   not run the module's code (only a dotted name's parent packages are imported).

Listing reads manifests and hashes weights only: no torch and no plugin code is imported
until :meth:`PluginRegistry.load`. One bad plugin never stops the others from being listed.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
import threading
import types
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.core.errors import ManifestError, PluginError, WeightsError
from engine.core.text import one_line
from plugins.api import Manifest, PluginInfo, PluginSource, Restorer, Task, WeightsStatus
from plugins.manifest import MANIFEST_NAME, load_manifest
from plugins.weights import DownloadProgress, check_weights, load_weights

ENTRY_POINT_GROUP = "clarity.plugins"
MODULE_PREFIX = "clarity_plugin_"
_TASK_ORDER = {task: index for index, task in enumerate(Task)}


def user_plugin_dirs() -> list[Path]:
    """User plugin folders: ``$CLARITY_PLUGIN_PATH`` entries, else the platform user data folder."""
    env = os.environ.get("CLARITY_PLUGIN_PATH")
    if env:
        return [Path(part).expanduser() for part in env.split(os.pathsep) if part.strip()]
    import platformdirs

    return [Path(platformdirs.user_data_dir("clarity-studio")) / "plugins"]


def builtin_plugin_dir() -> Path:
    """The folder of the ``plugins`` package (built-in plugins are its sub-folders)."""
    return Path(__file__).resolve().parent


class UnknownPluginError(PluginError):
    """No plugin has the requested id; the message lists the available ids and close matches."""

    def __init__(self, plugin_id: str, available: Sequence[str]) -> None:
        close = difflib.get_close_matches(plugin_id, list(available), n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        listing = ", ".join(available) if available else "none (run `clarity plugin new NAME` to create one)"
        message = f"unknown filter '{plugin_id}'{hint}; available: {listing}"
        Exception.__init__(self, message)
        self.plugin_id = plugin_id
        self.reason = message


class PluginRegistry:
    """Discovers plugins, reports their status and loads them on demand (thread-safe)."""

    def __init__(
        self,
        *,
        builtin_dir: Path | None = None,
        user_dirs: Sequence[Path] | None = None,
        entry_points: bool = True,
    ) -> None:
        """``builtin_dir``/``user_dirs`` default to the package folder and :func:`user_plugin_dirs`
        (read at each :meth:`refresh`); ``entry_points=False`` skips the ``clarity.plugins`` group."""
        self._builtin_dir = Path(builtin_dir) if builtin_dir is not None else builtin_plugin_dir()
        self._user_dirs = [Path(d) for d in user_dirs] if user_dirs is not None else None
        self._use_entry_points = entry_points
        self._lock = threading.RLock()
        self._infos: list[PluginInfo] | None = None
        self._winners: dict[str, PluginInfo] = {}
        self._loaded: dict[str, Restorer] = {}
        self._broken: dict[str, PluginError] = {}
        self._load_locks: dict[str, threading.Lock] = {}
        self._generation = 0

    # ----------------------------------------------------------------- discovery
    def refresh(self) -> None:
        """Rescan every source; forgets loaded restorers and cached load failures."""
        with self._lock:
            for name in [m for m in sys.modules if m.startswith(MODULE_PREFIX)]:
                del sys.modules[name]
            self._loaded.clear()
            self._broken.clear()
            self._generation += 1
            infos: list[PluginInfo] = []
            winners: dict[str, PluginInfo] = {}
            for source, folder, problem in self._candidates():
                info = _inspect(source, folder) if problem is None else PluginInfo(
                    source, folder, None, WeightsStatus.INVALID_MANIFEST, problem
                )
                if info.manifest is not None:
                    first = winners.get(info.manifest.id)
                    if first is not None:
                        info = PluginInfo(
                            source,
                            folder,
                            None,
                            WeightsStatus.INVALID_MANIFEST,
                            f"duplicate id '{info.manifest.id}': already provided by {first.location} "
                            f"({first.source.value}), which takes priority; this copy is ignored",
                        )
                    else:
                        winners[info.manifest.id] = info
                infos.append(info)
            self._infos = infos
            self._winners = winners

    def plugins(self) -> list[PluginInfo]:
        """Every discovered plugin, usable or not, sorted by task then name (scans on first call)."""
        with self._lock:
            if self._infos is None:
                self.refresh()
            assert self._infos is not None
            infos = [self._with_load_failure(info) for info in self._infos]
        return sorted(infos, key=_sort_key)

    def info(self, plugin_id: str) -> PluginInfo:
        """The plugin called ``plugin_id`` (any status); :class:`UnknownPluginError` if none."""
        with self._lock:
            if self._infos is None:
                self.refresh()
            found = self._winners.get(plugin_id)
            if found is None:
                raise UnknownPluginError(plugin_id, sorted(self._winners))
            return self._with_load_failure(found)

    def user_plugin_dir(self) -> Path:
        """The first user plugin folder (callers create it when they write into it)."""
        dirs = self._user_dirs if self._user_dirs is not None else user_plugin_dirs()
        return dirs[0] if dirs else user_plugin_dirs()[0]

    # ------------------------------------------------------------------- loading
    def load(
        self,
        plugin_id: str,
        *,
        download: bool = False,
        progress: DownloadProgress | None = None,
    ) -> Restorer:
        """The plugin's :class:`Restorer`, built on first call and cached until :meth:`refresh`.

        Imports the plugin module (only now) as ``clarity_plugin_<id>.<module>``, loads and
        hash-checks its weights (``download=True`` fetches missing ones that have a url), calls
        the build function and puts the network in eval mode. Raises :class:`PluginError`
        (or :class:`WeightsError`) naming the plugin; a failed import/build is remembered
        until :meth:`refresh`, and other plugins keep working.
        """
        with self._lock:
            info = self.info(plugin_id)
            generation = self._generation
            plugin_lock = self._load_locks.setdefault(plugin_id, threading.Lock())
        # Reading weights and building can take seconds: hold only this plugin's lock, so
        # listing and loading other plugins stay responsive meanwhile.
        with plugin_lock:
            with self._lock:
                if generation != self._generation:
                    info = self.info(plugin_id)
                    generation = self._generation
                if plugin_id in self._loaded:
                    return self._loaded[plugin_id]
                if plugin_id in self._broken:
                    raise self._broken[plugin_id]
            manifest = info.manifest
            if manifest is None:
                raise PluginError(plugin_id, info.reason)
            downloadable = info.status is WeightsStatus.MISSING and download
            if info.status is not WeightsStatus.OK and not downloadable:
                raise WeightsError(plugin_id, info.reason)
            weights = load_weights(manifest, download=download, progress=progress)
            try:
                restorer = _build(manifest, weights)
            except PluginError as exc:
                with self._lock:
                    if generation == self._generation:
                        self._broken[plugin_id] = exc
                raise
            with self._lock:
                if generation == self._generation:  # not cached if a refresh happened meanwhile
                    self._loaded[plugin_id] = restorer
                    if downloadable:
                        self._replace_info(info, PluginInfo(info.source, info.location, manifest, WeightsStatus.OK))
            return restorer

    # ------------------------------------------------------------------ helpers
    def _with_load_failure(self, info: PluginInfo) -> PluginInfo:
        if info.manifest is not None and self._winners.get(info.manifest.id) is info:
            error = self._broken.get(info.manifest.id)
            if error is not None:
                return PluginInfo(info.source, info.location, info.manifest, WeightsStatus.IMPORT_ERROR, error.reason)
        return info

    def _replace_info(self, old: PluginInfo, new: PluginInfo) -> None:
        assert self._infos is not None and new.manifest is not None
        self._infos = [new if i is old else i for i in self._infos]
        self._winners[new.manifest.id] = new

    def _candidates(self) -> list[tuple[PluginSource, Path, str | None]]:
        """(source, folder, problem) in priority order; problem is set when the folder cannot be found."""
        found: list[tuple[PluginSource, Path, str | None]] = []
        found += [(PluginSource.BUILTIN, f, None) for f in _plugin_folders(self._builtin_dir)]
        user_dirs = self._user_dirs if self._user_dirs is not None else user_plugin_dirs()
        seen = {f.resolve() for _, f, _ in found}
        for user_dir in user_dirs:
            for folder in _plugin_folders(user_dir):
                if folder.resolve() not in seen:
                    seen.add(folder.resolve())
                    found.append((PluginSource.USER, folder, None))
        if self._use_entry_points:
            found += _entry_point_folders()
        return found


def _plugin_folders(parent: Path) -> list[Path]:
    """``parent`` itself if it holds a manifest, else its sub-folders that do (sorted by name)."""
    if not parent.is_dir():
        return []
    if (parent / MANIFEST_NAME).is_file():
        return [parent]
    try:
        children = sorted(parent.iterdir(), key=lambda p: p.name)
    except OSError:
        return []
    return [c for c in children if c.is_dir() and not c.name.startswith((".", "_")) and (c / MANIFEST_NAME).is_file()]


def _entry_point_folders() -> list[tuple[PluginSource, Path, str | None]]:
    found: list[tuple[PluginSource, Path, str | None]] = []
    try:
        eps = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
    except Exception as exc:  # noqa: BLE001 - broken installed metadata must not stop listing
        return [(PluginSource.ENTRY_POINT, Path(f"<{ENTRY_POINT_GROUP}>"), f"cannot read entry points: {exc}")]
    for ep in eps:
        location = Path(f"<entry point {ep.name} = {ep.value}>")
        try:
            spec = importlib.util.find_spec(ep.module)
        except Exception as exc:  # noqa: BLE001 - a broken parent package is reported, not raised
            found.append((PluginSource.ENTRY_POINT, location, f"entry point '{ep.name}': cannot find module '{ep.module}': {exc}"))
            continue
        if spec is None:
            found.append(
                (PluginSource.ENTRY_POINT, location, f"entry point '{ep.name}': module '{ep.module}' is not installed")
            )
            continue
        if spec.submodule_search_locations:
            folder = Path(list(spec.submodule_search_locations)[0])
        elif spec.origin:
            folder = Path(spec.origin).parent
        else:
            found.append((PluginSource.ENTRY_POINT, location, f"entry point '{ep.name}': module '{ep.module}' has no folder"))
            continue
        if not (folder / MANIFEST_NAME).is_file():
            found.append((PluginSource.ENTRY_POINT, folder, f"entry point '{ep.name}': no {MANIFEST_NAME} in {folder}"))
            continue
        found.append((PluginSource.ENTRY_POINT, folder, None))
    return found


def _inspect(source: PluginSource, folder: Path) -> PluginInfo:
    try:
        manifest = load_manifest(folder / MANIFEST_NAME)
    except ManifestError as exc:
        return PluginInfo(source, folder, None, WeightsStatus.INVALID_MANIFEST, one_line(exc))
    except Exception as exc:  # noqa: BLE001 - a validator bug must not hide the other plugins
        reason = one_line(f"{folder / MANIFEST_NAME}: unexpected {type(exc).__name__} while reading the manifest: {exc}")
        return PluginInfo(source, folder, None, WeightsStatus.INVALID_MANIFEST, reason)
    try:
        status, reason = check_weights(manifest)
    except OSError as exc:
        return PluginInfo(source, folder, manifest, WeightsStatus.MISSING, f"cannot read weights: {exc}")
    except Exception as exc:  # noqa: BLE001 - one crafted plugin must never stop the others
        reason = one_line(f"checking its weights failed: {type(exc).__name__}: {exc}")
        return PluginInfo(source, folder, manifest, WeightsStatus.IMPORT_ERROR, reason)
    return PluginInfo(source, folder, manifest, status, reason)


def _sort_key(info: PluginInfo) -> tuple[int, str, str]:
    if info.manifest is None:
        return (len(_TASK_ORDER), info.id.lower(), str(info.location))
    return (_TASK_ORDER[info.manifest.task], info.manifest.name.lower(), info.manifest.id)


def module_name(plugin_id: str) -> str:
    """The unique package name a plugin's folder is imported under."""
    return MODULE_PREFIX + re.sub(r"[^a-z0-9_]", "_", plugin_id)


def _import_entry(manifest: Manifest) -> Callable[..., object]:
    """Import the plugin's entry module as ``clarity_plugin_<id>.<module>`` and return the function.

    The folder becomes a synthetic package, so plugin modules may use relative imports
    (``from .net import Net``).
    """
    module_part, _, function = manifest.entry.partition(":")
    if "." in module_part:  # an importable module shared by several plugins, e.g. plugins.nets.weather
        try:
            module = importlib.import_module(module_part)
        except Exception as exc:  # noqa: BLE001 - any import failure is reported
            raise PluginError(manifest.id, f"importing module '{module_part}' failed: {type(exc).__name__}: {exc}") from exc
        build = getattr(module, function, None)
        if not callable(build):
            raise PluginError(manifest.id, f"module '{module_part}' has no function '{function}' (entry = \"{manifest.entry}\")")
        return build
    package = module_name(manifest.id)
    if package not in sys.modules:
        pkg = types.ModuleType(package)
        pkg.__path__ = [str(manifest.folder)]
        pkg.__file__ = None
        pkg.__package__ = package
        sys.modules[package] = pkg
    try:
        module = importlib.import_module(f"{package}.{module_part}")
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any import failure of third-party code is reported
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]
        raise PluginError(manifest.id, one_line(f"importing {module_part}.py failed: {type(exc).__name__}: {exc}")) from exc
    build = getattr(module, function, None)
    if not callable(build):
        raise PluginError(manifest.id, f"{module_part}.py has no function '{function}' (entry = \"{manifest.entry}\")")
    return build


def _build(manifest: Manifest, weights: object) -> Restorer:
    build = _import_entry(manifest)
    try:
        restorer = build(manifest, weights)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any build failure of third-party code is reported
        raise PluginError(manifest.id, one_line(f"{manifest.entry} raised {type(exc).__name__}: {exc}")) from exc
    if not isinstance(restorer, Restorer):
        raise PluginError(
            manifest.id,
            f"{manifest.entry} returned {type(restorer).__name__}, not a plugins.api.Restorer subclass",
        )
    restorer.network.eval()
    return restorer
