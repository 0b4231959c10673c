"""Writes tiny, real plugin folders (manifest + model.py + safetensors weights) for tests.

Every test that needs a plugin builds one here in a temporary folder, so the tests exercise
the same discovery, hash check and loading path as shipped plugins. Networks are a few
hundred parameters with seeded random weights: fast on 2 CPU cores, deterministic.

Kinds of network (``kind``):

- ``"conv"``: residual 3-layer 3x3 conv net (context 3 px), any scale 1 task.
- ``"sr"``: 2-layer conv + pixel shuffle for ``scale`` in {2, 3, 4}, context 2 px.
- ``"instancenorm"``: conv + InstanceNorm2d: averages over H and W, policy ``min-tile``.
Any kind takes ``sleep=SECONDS``: a pause per forward call, for cancel/responsiveness tests.
"""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

MODEL_SOURCE = '''\
"""Tiny test network written by tests/plugin_factory.py."""
import time

import torch
from torch import nn

from plugins.api import Manifest, ParamValues, Restorer, WeightsBundle

KIND = {kind!r}
SCALE = {scale}
SLEEP = {sleep}


class TinyNet(nn.Module):
    def __init__(self, channels: int = 3, width: int = 8) -> None:
        super().__init__()
        c = channels
        if KIND == "sr":
            self.body = nn.Sequential(
                nn.Conv2d(c, width, 3, padding=1), nn.ReLU(),
                nn.Conv2d(width, c * SCALE * SCALE, 3, padding=1), nn.PixelShuffle(SCALE),
            )
        elif KIND == "instancenorm":
            self.body = nn.Sequential(
                nn.Conv2d(c, width, 3, padding=1), nn.InstanceNorm2d(width, affine=True), nn.ReLU(),
                nn.Conv2d(width, c, 3, padding=1),
            )
        else:
            self.body = nn.Sequential(
                nn.Conv2d(c, width, 3, padding=1), nn.ReLU(),
                nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                nn.Conv2d(width, c, 3, padding=1),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class TinyRestorer(Restorer):
    def analyse(self, image, params: ParamValues) -> ParamValues:
        # a declared "level" parameter (see AUTO_LEVEL_TOML) resolves "auto" to 100 x the image mean
        if self.manifest.parameter("level") is not None and params.get("level") == "auto":
            return params.replace(level=round(float(image.mean()) * 100.0, 3))
        return params

    def forward(self, x: torch.Tensor, params: ParamValues) -> torch.Tensor:
        if SLEEP:
            time.sleep(SLEEP)
        y = self.network(x)
        if KIND == "sr":
            return y + torch.nn.functional.interpolate(x, scale_factor=SCALE, mode="nearest")
        return x + params.float("amount") * y


def build(manifest: Manifest, weights: WeightsBundle) -> Restorer:
    net = TinyNet()
    net.load_state_dict(weights["main"])
    return TinyRestorer(manifest, net)
'''


AUTO_LEVEL_TOML = textwrap.dedent(
    """
    [[parameters]]
    name = "level"
    type = "float"
    label = "Level"
    help = "Resolved from the whole image when auto (100 x its mean); ignored by the network."
    min = 0.0
    max = 100.0
    default = "auto"
    auto = true
    """
)
"""``extra_toml`` for a tiny plugin whose ``analyse`` resolves an ``"auto"`` parameter (to see it reported)."""


def tiny_state_dict(kind: str = "conv", scale: int = 1, seed: int = 0) -> dict:
    """Seeded random weights for the tiny network of ``kind`` (built by exec'ing MODEL_SOURCE)."""
    import torch

    namespace: dict = {}
    exec(compile(MODEL_SOURCE.format(kind=kind, scale=scale, sleep=0.0), "<tiny>", "exec"), namespace)
    torch.manual_seed(seed)
    net = namespace["TinyNet"]()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(0.5)
    return {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_tiny_plugin(
    parent: Path,
    plugin_id: str = "tiny",
    *,
    kind: str = "conv",
    task: str = "denoise",
    scale: int = 1,
    policy: str | None = None,
    context: int | None = None,
    min_tile: int = 0,
    size_multiple: int = 1,
    sleep: float = 0.0,
    seed: int = 0,
    name: str | None = None,
    menu: str | None = None,
    extra_toml: str = "",
    sha256: str | None = None,
) -> Path:
    """Create ``parent/plugin_id`` as a complete plugin folder and return its path.

    ``sha256`` overrides the recorded hash (to test mismatches); ``extra_toml`` is appended
    to the manifest verbatim (to add parameters or break fields).
    """
    from safetensors.torch import save_file

    folder = parent / plugin_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.py").write_text(MODEL_SOURCE.format(kind=kind, scale=scale, sleep=sleep))
    weights = folder / "weights.safetensors"
    save_file(tiny_state_dict(kind, scale, seed), str(weights))
    if policy is None:
        policy = "min-tile" if kind == "instancenorm" else "tiled"
    if context is None:
        context = 2 if kind == "sr" else 3
    params = ""
    if kind != "sr":
        params = textwrap.dedent(
            """
            [[parameters]]
            name = "amount"
            type = "float"
            label = "Amount"
            help = "How much of the network's correction to add."
            min = 0.0
            max = 2.0
            step = 0.05
            default = 1.0
            """
        )
    manifest = textwrap.dedent(
        f"""\
        id = "{plugin_id}"
        name = "{name or plugin_id.replace('-', ' ').title()}"
        version = "0.1.0"
        task = "{task}"
        menu = "{menu or (name or plugin_id.title())}"
        description = "Tiny {kind} test network."
        license = "MIT"
        entry = "model:build"
        scale = {scale}
        channels = [3]
        fp16 = true
        bf16 = true

        [tiling]
        policy = "{policy}"
        context = {context}
        size_multiple = {size_multiple}
        min_tile = {min_tile}

        [[weights]]
        name = "main"
        file = "weights.safetensors"
        sha256 = "{sha256 or sha256_of(weights)}"
        """
    )
    (folder / "plugin.toml").write_text(manifest + params + extra_toml)
    return folder
