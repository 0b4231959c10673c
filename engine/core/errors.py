"""Exceptions raised by the engine and the plugin system.

Every exception meant for a user derives from :class:`ClarityError` and carries a
message that says what went wrong and, where possible, how to fix it. The command
line prints ``str(error)`` as one line and exits non-zero; the GUI shows it in a
message box. Anything that is *not* a ``ClarityError`` is a bug in Clarity Studio.
"""

from __future__ import annotations

from pathlib import Path


class ClarityError(Exception):
    """Base class of every error a user may see; ``str()`` is a one-line message."""


class UnsupportedImageError(ClarityError):
    """The file is not an image we can read (corrupt, truncated, unknown format...)."""


class ImageTooLargeError(UnsupportedImageError):
    """The image exceeds the pixel-count limit (protection against decompression bombs)."""


class ImageWriteError(ClarityError):
    """An output could not be written (permissions, disk full, refusal to overwrite)."""


class PluginError(ClarityError):
    """A plugin cannot be used: bad manifest, failing import, wrong output..."""

    def __init__(self, plugin_id: str, message: str) -> None:
        super().__init__(f"plugin '{plugin_id}': {message}")
        self.plugin_id = plugin_id
        self.reason = message


class ManifestError(PluginError):
    """A ``plugin.toml`` is invalid; names the file and the offending field."""

    def __init__(self, path: Path | str, field: str | None, message: str, plugin_id: str = "?") -> None:
        where = f"{path}" + (f": field '{field}'" if field else "")
        ClarityError.__init__(self, f"{where}: {message}")
        self.plugin_id = plugin_id
        self.reason = f"{('field ' + repr(field) + ': ') if field else ''}{message}"
        self.path = Path(path)
        self.field = field


class WeightsError(PluginError):
    """A weights file is missing, has the wrong sha256, is a pickle, or does not fit the network."""


class ParameterError(ClarityError):
    """A filter parameter is unknown, of the wrong type or outside its range."""


class DeviceError(ClarityError):
    """The requested compute device or precision is not available."""


class CancelledError(ClarityError):
    """The user cancelled the run; raised between tiles."""

    def __init__(self, message: str = "cancelled by the user") -> None:
        super().__init__(message)
