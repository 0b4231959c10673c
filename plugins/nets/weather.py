"""The all-weather restoration network and entry shared by ``derain``, ``dehaze``, ``desnow`` and ``all-weather``.

The four plugin folders hold only ``plugin.toml``, ``MODEL.md`` and their weights; their manifests
say ``entry = "plugins.nets.weather:build_weather"`` and training configs name the network
``arch = "plugins.nets.weather:weather_net"`` (the older per-plugin names such as
``plugins.derain.model:derain_net``, stored in existing checkpoints, resolve to it; see
:mod:`engine.training.registry`).

Chen et al. (CVPR 2022, "Learning Multiple Adverse Weather Removal via Two-stage Knowledge
Learning and Multi-contrastive Regularization") train one teacher per weather and distil
them into a student of the SAME architecture; this is that architecture: a
:class:`plugins.nets.resunet.ResUNet` with pixel-unshuffle 2 and four levels (1/2 .. 1/16),
dilated residual blocks at the bottom for a receptive field wide enough for haze, and no
normalisation (tile exact). ``forward_features`` exposes the bottom and decoder features for
collaborative knowledge transfer.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from plugins.api import Manifest, ParamValues, Restorer, WeightsBundle
from plugins.nets.loading import load_network, load_networks
from plugins.nets.resunet import ResUNet, UNetArch

WEATHER_ARCH = UNetArch(widths=(32, 64, 128, 256), enc_blocks=1, dec_blocks=1, bottom_dilations=(1, 2), unshuffle=2)
"""Widths per level, residual blocks per level and dilations of the bottom blocks (see docs/models.md)."""


def weather_net(widths: str = "", bottom_dilations: str = "") -> ResUNet:
    """The weather network (RGB in, RGB out); arguments override :data:`WEATHER_ARCH` for ablations.

    ``widths`` / ``bottom_dilations`` are comma-separated integers, e.g. ``"32,64,128,256"``.
    """
    arch = replace(
        WEATHER_ARCH,
        widths=tuple(int(v) for v in widths.split(",")) if widths else WEATHER_ARCH.widths,
        bottom_dilations=(
            tuple(int(v) for v in bottom_dilations.split(",")) if bottom_dilations else WEATHER_ARCH.bottom_dilations
        ),
    )
    return arch.build(channels=3, noise_map=False)


WEATHER_DEEP_ARCH = replace(WEATHER_ARCH, enc_blocks=2, dec_blocks=2)
"""The weather network with two residual blocks per encoder and decoder level (4.26 M parameters instead of
3.49 M, ~1.8x the compute per pixel, receptive radius 227 instead of 171): a grown student
(``clarity distill --init plugins/all_weather/all-weather.safetensors --grow``, teachers of :data:`WEATHER_ARCH`)."""


def weather_net_deep() -> ResUNet:
    """:data:`WEATHER_DEEP_ARCH` (RGB in, RGB out); the same features as :func:`weather_net` for distillation."""
    return WEATHER_DEEP_ARCH.build(channels=3, noise_map=False)


MODEL_PARAMETER = "model"
"""A manifest parameter of this name (a choice of weights-entry names) makes the plugin load every entry."""


class WeatherRestorer(Restorer):
    """Runs the weather network on RGB tiles.

    ``forward(x, params)``: ``x`` ``(N, 3, H, W)`` in ``[0, 1]``, ``H``, ``W`` multiples of 16
    (the manifest's ``size_multiple``) -> same shape, not clipped. ``network`` is one network, or
    a ``torch.nn.ModuleDict`` keyed by weights entry when the manifest has a ``model`` choice (all-weather:
    ``direct`` / ``distilled``), and ``params["model"]`` picks the entry.
    """

    def __init__(self, manifest: Manifest, network: torch.nn.Module) -> None:
        super().__init__(manifest, network)
        # decided by the manifest, not by the network's type: the ONNX backend swaps ``network`` for a
        # stand-in that exports whichever entry is indexed
        self.model_choice = has_model_choice(manifest)

    def forward(self, x: torch.Tensor, params: ParamValues) -> torch.Tensor:
        if self.model_choice:
            return self.network[str(params.get(MODEL_PARAMETER))](x)  # type: ignore[index]
        return self.network(x)


def has_model_choice(manifest: Manifest) -> bool:
    """Whether the manifest declares the ``model`` parameter (then every weights entry is loaded)."""
    return any(p.name == MODEL_PARAMETER for p in manifest.parameters)


def build_weather(manifest: Manifest, weights: WeightsBundle) -> Restorer:
    """Load the weather network(s) (used by all four plugins).

    The bundle's ``main`` entry, or, when the manifest declares a ``model`` parameter, every entry
    (keyed by name; the parameter's choices are those names).
    """
    if has_model_choice(manifest):
        return WeatherRestorer(manifest, load_networks(manifest, weights))
    return WeatherRestorer(manifest, load_network(manifest, weights, "main"))
