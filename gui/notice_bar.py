"""A notice bar above the image: one line that says what is wrong and a button that fixes it.

Used when no filter can run (every plugin lacks weights or failed to load): the Filter menu
alone would only be greyed out, so the window says why and offers Help > Plugins....
:func:`no_filter_notice` builds the sentence from the registry's list.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from plugins.api import PluginInfo, WeightsStatus


def no_filter_notice(infos: list[PluginInfo]) -> str:
    """The notice for a registry without a usable plugin ("" when at least one can run)."""
    if any(info.usable for info in infos):
        return ""
    if not infos:
        return ("No filter is installed, so the Filter menu is empty. Open Plugins... to import a model "
                "or open the plugin folder, then reload.")
    missing = sum(1 for info in infos if info.status is WeightsStatus.MISSING)
    broken = len(infos) - missing
    parts = []
    if missing:
        parts.append(f"{missing} filter has no trained weights yet" if missing == 1 else f"{missing} filters have no trained weights yet")
    if broken:
        parts.append(f"{broken} could not be loaded")
    return (f"No filter can run: {' and '.join(parts)}, so the Filter menu is greyed out. Open Plugins... "
            "to see why for each one and to import a model file.")


class NoticeBar(QFrame):
    """A hidden-by-default bar with a wrapped message and one action button."""

    def __init__(self, button_text: str, on_click: Callable[[], object], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("#noticeBar { background: #fff4c2; color: #3a3000; }")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.button = QPushButton(button_text)
        self.button.clicked.connect(lambda _checked=False: on_click())
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button)
        self.setVisible(False)

    def show_message(self, text: str) -> None:
        """Show ``text`` (an empty text hides the bar)."""
        self.label.setText(text)
        self.setVisible(bool(text))


__all__ = ["NoticeBar", "no_filter_notice"]
