"""Image channels versus a plugin's channels: the one place gray, RGB and alpha are converted.

A plugin declares the channel counts its networks take (``Manifest.channels``, from its network
specs); plugins never convert channels themselves. :class:`ChannelPlan` decides, once per run
and for the whole image, how the image's channels reach the network and come back:

- ``native``: the plugin takes the image's channel count;
- ``gray_to_rgb``: a gray image to a colour-only plugin is replicated to 3 channels, and the
  3 output channels are averaged back to 1;
- ``per_channel``: a colour image to a gray-only plugin runs each channel as its own batch item;
- ``replicated_gray``: a colour image whose three channels are identical (a gray photo stored
  as RGB) to a gray-only plugin runs once, as gray, and the output is replicated: the same
  result as ``per_channel`` for a third of the work, and the channels stay identical.

Alpha never reaches a network: :class:`engine.io.ImageDocument` keeps it aside, and
:func:`result_alpha` gives the alpha that goes with a result (the area it covers, at its size).

Tensors are handled through their methods only, so this module imports no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.core.errors import ParameterError
from engine.core.types import Region

if TYPE_CHECKING:  # pragma: no cover
    import torch

MODES: tuple[str, ...] = ("native", "gray_to_rgb", "per_channel", "replicated_gray")


def is_replicated_gray(image: np.ndarray) -> bool:
    """True for an ``(H, W, 3)`` image whose three channels are equal everywhere."""
    return image.ndim == 3 and image.shape[2] == 3 and bool(
        np.array_equal(image[:, :, 0], image[:, :, 1]) and np.array_equal(image[:, :, 0], image[:, :, 2])
    )


def channel_mode(image_channels: int, accepted: Sequence[int], *, replicated: bool = False) -> str:
    """How ``image_channels`` reach a plugin accepting ``accepted`` (see the module docstring).

    ``replicated``: the 3-channel image is gray stored as RGB (:func:`is_replicated_gray`).
    Raises :class:`ParameterError` when no conversion fits.
    """
    if image_channels in accepted:
        return "native"
    if image_channels == 1 and 3 in accepted:
        return "gray_to_rgb"
    if image_channels == 3 and 1 in accepted:
        return "replicated_gray" if replicated else "per_channel"
    raise ParameterError(f"images with {image_channels} channels cannot be fed to a plugin accepting {tuple(accepted)}")


@dataclass(frozen=True)
class ChannelPlan:
    """How one image's channels map onto a plugin's for a whole run (frozen)."""

    mode: str
    image_channels: int

    @classmethod
    def for_image(cls, image: np.ndarray, accepted: Sequence[int]) -> ChannelPlan:
        """The plan for an ``(H, W, C)`` image and a plugin accepting ``accepted`` channel counts."""
        channels = image.shape[2]
        replicated = channels == 3 and 3 not in accepted and is_replicated_gray(image)
        return cls(channel_mode(channels, accepted, replicated=replicated), channels)

    @property
    def net_channels(self) -> int:
        """Channels of the batches the network sees."""
        return {"native": self.image_channels, "gray_to_rgb": 3, "per_channel": 1, "replicated_gray": 1}[self.mode]

    def items(self, tiles: int) -> int:
        """Batch items the network sees for ``tiles`` tiles (``per_channel``: one per channel)."""
        return tiles * self.image_channels if self.mode == "per_channel" else tiles

    def analysis_view(self, image: np.ndarray) -> np.ndarray:
        """The whole ``(H, W, C)`` image as ``Restorer.analyse`` should see it (no copy).

        Gray to a colour plugin: broadcast to 3 channels; colour to a gray plugin: the green
        channel (each channel is restored on its own; green is the least noisy in photos).
        """
        if self.mode == "gray_to_rgb":
            return np.broadcast_to(image, (*image.shape[:2], 3))
        if self.mode in ("per_channel", "replicated_gray"):
            return image[:, :, 1:2]
        return image

    def to_network(self, x: torch.Tensor) -> torch.Tensor:
        """A ``(N, C, h, w)`` batch of image tiles as the network's input batch."""
        n, c, h, w = x.shape
        if self.mode == "gray_to_rgb":
            return x.expand(n, 3, h, w)
        if self.mode == "per_channel":
            return x.reshape(n * c, 1, h, w)
        if self.mode == "replicated_gray":
            return x[:, :1]
        return x

    def from_network(self, y: torch.Tensor, tiles: int) -> torch.Tensor:
        """The network's ``(items, net_channels, H, W)`` output as ``(tiles, image_channels, H, W)``."""
        _, _, h, w = y.shape
        if self.mode == "gray_to_rgb":
            return y.mean(dim=1, keepdim=True)
        if self.mode == "per_channel":
            return y.reshape(tiles, self.image_channels, h, w)
        if self.mode == "replicated_gray":
            return y.expand(tiles, 3, h, w)
        return y


def result_alpha(alpha: np.ndarray | None, area: Region, height: int, width: int) -> np.ndarray | None:
    """The alpha that goes with a result covering ``area`` of the image, at the result's ``height`` x ``width``.

    ``None`` stays ``None``. The crop is resized bicubic up / area-averaged down
    (:func:`engine.imageio.document.resize_alpha`), so a super-resolution result keeps smooth edges.
    """
    if alpha is None:
        return None
    from engine.imageio.document import resize_alpha

    return resize_alpha(alpha[area.slices], width, height)
