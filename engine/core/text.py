"""Making untrusted text safe to show: one sanitising helper for the terminal and the app.

Plugin manifests, file names, error messages and plugin exceptions may contain control
characters: ``ESC]0;`` sets a terminal's window title, ``ESC[2J`` clears the screen, ``CR``
overwrites a line, ``NUL`` truncates, ``U+202E`` reverses the text that follows. :func:`printable`
replaces every such character by a visible escape (``\\x1b``, ``\\u202e``); :func:`one_line`
also folds whitespace runs (newlines included) into single spaces. Both are pure functions on
``str``: the CLI runs every human-readable line through them, and the app uses the same
functions for menus, dialogs and tooltips.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["one_line", "printable"]

# C0/C1 controls except tab and newline (handled by the callers), DEL, and Unicode format
# characters that change how text is laid out (bidi overrides/isolates, zero-width marks).
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]")


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object, *, keep_newlines: bool = True) -> str:
    """``str(text)`` with control and layout-changing characters written as visible escapes.

    Tabs are kept; newlines are kept when ``keep_newlines`` (else escaped as ``\\x0a``). Any
    other character of Unicode category ``Cc``/``Cf``/``Zl``/``Zp`` is escaped, so the result
    can be printed to a terminal or put into a label without side effects.
    """
    value = str(text)
    value = _UNSAFE.sub(_escape, value)
    if not keep_newlines:
        value = value.replace("\n", "\\x0a")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c not in "\t\n" for c in value):
        value = "".join(
            c if c in "\t\n" or unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp")
            else (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
            for c in value
        )
    return value


def one_line(text: object) -> str:
    """:func:`printable` on one line: every whitespace run (newlines, tabs) becomes one space."""
    return printable(" ".join(str(text).split()), keep_newlines=False)
