"""RED-Net (Mao, Shen and Yang, NIPS 2016), the reference super-resolution model: ``upscale-rednet``.

Network (RED-Net30; RED-Net20 and RED-Net10, the paper's shallower depths, have 10 + 10 and 5 + 5
layers): 15 conv layers then 15 deconv layers (``ConvTranspose2d``, stride 1), all 3x3 with
64 channels and ReLU after every layer (the last deconv, which outputs the image residual,
is linear). Symmetric skip connections every two layers: the outputs of conv layers
2, 4, ..., 14 are added to the outputs of the mirrored deconv layers 13, 11, ..., 1
(element-wise sum, then ReLU, as in the paper). No pooling; residual learning
(output = input + net(input)). The plugin's manifest names the depth its weights are for
(``network`` of the ``main`` entry); the shipped weights are RED-Net20 (RED-Net10, the depth the
2-core CPU trains best per hour, grown by ten layers once it was flat; docs/training.md).

It is a pre-upsampling network: its input is the MATLAB-style bicubic upsampling of the
low-resolution image (``engine.core.imresize.imresize_torch``, as in training), so one
network serves x2, x3 and x4. Receptive field of RED-Net30: 30 pixels (HR) around an output
pixel; in input (LR) pixels that is ``ceil(30 / s)`` plus the bicubic support (2): 17 at x2
(its declared context), 12 at x3, 10 at x4 (RED-Net20: 12 at x2; RED-Net10: 7).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from engine.core.errors import ClarityError
from engine.core.imresize import imresize_torch
from plugins.api import Manifest, ParamValues, Restorer, WeightsBundle
from plugins.nets.loading import load_network


class REDNet(nn.Module):
    """RED-Net with ``layers`` conv + ``layers`` deconv layers; ``forward(x)`` = ``x + residual``.

    ``forward(x)``: ``(N, channels, H, W)`` bicubic-upsampled image in ``[0, 1]`` -> same shape.
    """

    def __init__(self, channels: int = 3, layers: int = 15, features: int = 64, skip_every: int = 2) -> None:
        super().__init__()
        self.layers = layers
        self.skip_every = skip_every
        self.convs = nn.ModuleList(
            [nn.Conv2d(channels if i == 0 else features, features, 3, padding=1) for i in range(layers)]
        )
        self.deconvs = nn.ModuleList(
            [
                nn.ConvTranspose2d(features, channels if i == layers - 1 else features, 3, padding=1)
                for i in range(layers)
            ]
        )
        self.act = nn.ReLU(inplace=True)

    def context(self) -> int:
        """Receptive-field radius in pixels of the (upsampled) input: one per 3x3 layer."""
        return 2 * self.layers

    def grown_state(self, state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
        """Weights for this network that compute exactly what ``state``, a shallower RED-Net's, computes.

        ``clarity train --init W --grow`` (``engine.training.grow``). With ``m`` conv + ``m`` deconv
        layers in ``state`` and ``n >= m`` here: its convs stay convs ``1..m`` and its deconvs become
        the last ``m`` deconvs, where the mirrored skips meet them again (conv ``i`` feeds deconv
        ``n - i``, and ``(n - i) - (n - m) = m - i``). The new convs ``m+1..n`` are identities (a Dirac
        kernel, zero bias: after a ReLU the features are non-negative, so the next ReLU passes them
        unchanged). Of the new first ``n - m`` deconvs, one that receives a skip is zeroed (its output
        is then the skip, a copy of conv ``m``'s features), any other is an identity. Returns the
        complete state and the names of the new layers. Raises :class:`ClarityError` when ``state`` is
        not a RED-Net of this width and channels with at most ``n`` layers.
        """
        own, n = self.state_dict(), self.layers
        m = sum(1 for k in state if k.startswith("convs.") and k.endswith(".weight"))
        expected = {f"{kind}.{i}.{t}" for kind in ("convs", "deconvs") for i in range(m) for t in ("weight", "bias")}
        if m == 0 or set(state) != expected:
            stray = sorted(set(state) ^ expected)[:3]
            raise ClarityError(f"--grow: these weights are not a RED-Net's (unexpected or missing: {', '.join(stray)})")
        if m > n:
            raise ClarityError(f"--grow: the weights have {m} + {m} layers, this RED-Net only {n} + {n}")
        shift = n - m
        target = {f"convs.{i}.{t}": f"convs.{i}.{t}" for i in range(m) for t in ("weight", "bias")}
        target |= {f"deconvs.{i}.{t}": f"deconvs.{i + shift}.{t}" for i in range(m) for t in ("weight", "bias")}
        full: dict[str, torch.Tensor] = {}
        for old, new in target.items():
            if tuple(state[old].shape) != tuple(own[new].shape):
                raise ClarityError(
                    f"--grow: {old} is {tuple(state[old].shape)} in the weights, {tuple(own[new].shape)} as {new} here "
                    "(another width or channel count)"
                )
            full[new] = state[old]
        added: list[str] = []
        for i in range(m, n):  # convs m+1..n
            full[f"convs.{i}.weight"] = nn.init.dirac_(torch.empty_like(own[f"convs.{i}.weight"]))
            full[f"convs.{i}.bias"] = torch.zeros_like(own[f"convs.{i}.bias"])
            added.append(f"convs.{i}")
        for j in range(1, shift + 1):  # deconvs 1..n-m; deconv j receives conv n-j's features when skipped
            weight = torch.empty_like(own[f"deconvs.{j - 1}.weight"])
            receives_skip = (n - j) % self.skip_every == 0
            full[f"deconvs.{j - 1}.weight"] = weight.zero_() if receives_skip else nn.init.dirac_(weight)
            full[f"deconvs.{j - 1}.bias"] = torch.zeros_like(own[f"deconvs.{j - 1}.bias"])
            added.append(f"deconvs.{j - 1}")
        return full, added

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        saved: dict[int, torch.Tensor] = {}
        n = self.layers
        for i, conv in enumerate(self.convs, start=1):
            h = self.act(conv(h))
            if i % self.skip_every == 0 and i < n:
                saved[n - i] = h  # conv i feeds deconv (n - i)
        for j, deconv in enumerate(self.deconvs, start=1):
            h = deconv(h)
            if j == n:
                break
            if j in saved:
                h = h + saved[j]
            h = self.act(h)
        return x + h


def rednet30() -> REDNet:
    """RED-Net30: 15 conv + 15 deconv layers, 64 channels (weights entry ``main``)."""
    return REDNet(channels=3, layers=15, features=64)


def rednet20() -> REDNet:
    """RED-Net20: 10 conv + 10 deconv layers, 64 channels; the paper's middle depth, 2/3 of RED-Net30's cost."""
    return REDNet(channels=3, layers=10, features=64)


def rednet10() -> REDNet:
    """RED-Net10: 5 conv + 5 deconv layers, 64 channels; the paper's shallowest, 1/3 of RED-Net30's cost."""
    return REDNet(channels=3, layers=5, features=64)


def bicubic_upsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """MATLAB-style bicubic upsampling, the same function the training pipeline uses."""
    return imresize_torch(x, float(scale))


class REDNetRestorer(Restorer):
    """Bicubic upsampling by the ``scale`` parameter, then the RED-Net the manifest names.

    ``forward(x, params)``: ``x`` ``(N, 3, h, w)`` in ``[0, 1]`` -> ``(N, 3, h*s, w*s)`` (the engine
    feeds gray images as RGB).
    """

    def forward(self, x: torch.Tensor, params: ParamValues) -> torch.Tensor:
        return self.network(bicubic_upsample(x, self.scale(params)))


def build(manifest: Manifest, weights: WeightsBundle) -> Restorer:
    """Load the RED-Net of the bundle's ``main`` entry (its depth is the entry's ``network``)."""
    return REDNetRestorer(manifest, load_network(manifest, weights, "main"))
