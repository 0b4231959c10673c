"""Help > About: the app's version and licence, and the licence of each model plugin.

:func:`about_html` builds the text from the installed package metadata (version, licence) and
the plugin registry's manifests (each model's ``license``), so it never goes stale.
"""

from __future__ import annotations

import html
from importlib import metadata

from plugins.api import PluginInfo

APP_NAME = "Clarity Studio"

APP_LICENSE = "MIT"
"""The app's licence (pyproject.toml ``license``), used when the package metadata is unavailable."""


def app_version() -> str:
    """The installed ``clarity-studio`` version ("unknown" when running from an uninstalled tree)."""
    try:
        return metadata.version("clarity-studio")
    except metadata.PackageNotFoundError:
        return "unknown"


def about_html(app_name: str, infos: list[PluginInfo]) -> str:
    """Rich text for the About box: name, version, licence, and one line per model plugin."""
    lines = [
        f"<b>{html.escape(app_name)}</b> {html.escape(app_version())}",
        "Photo restoration with deep-learning filters: denoise, super-resolution, derain, dehaze, desnow.",
        f"Licence: {APP_LICENSE}. Built with Qt for Python (PySide6, LGPLv3) and PyTorch (BSD).",
    ]
    models = []
    for info in infos:
        m = info.manifest
        if m is None:
            continue
        models.append(f"<li>{html.escape(m.menu or m.name)} ({html.escape(m.id)} {html.escape(m.version)}): "
                      f"{html.escape(m.license or 'licence not stated')}</li>")
    body = "<br>".join(lines)
    if models:
        body += "<p>Models (each plugin's own licence):</p><ul>" + "".join(models) + "</ul>"
    return body


__all__ = ["APP_LICENSE", "APP_NAME", "about_html", "app_version"]
