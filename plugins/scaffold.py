"""``clarity plugin new``: write a working template plugin folder.

The template is a small residual conv network whose last layer is zero-initialised, so the
fresh plugin is an identity filter (for super-resolution: a nearest-neighbour upscaler) that
loads, hash-checks and runs out of the box. Authors then train it and replace
``weights.safetensors`` (and its sha256 in ``plugin.toml``).
"""

from __future__ import annotations

import re
from pathlib import Path

from engine.core.atomic import give_default_mode
from engine.core.errors import PluginError
from engine.core.hashing import sha256_file
from plugins.api import Task
from plugins.manifest import ID_PATTERN, MANIFEST_NAME

TEMPLATE_WIDTH = 16
"""Feature channels of the template network."""

MODEL_TEMPLATE = '''\
"""{name}: template network written by `clarity plugin new`.

A residual 3-layer conv network. The last convolution starts at zero, so until you train it
the filter returns its input unchanged{sr_note}. Receptive field: 3 convs of 3x3 -> context 3 px.
Replace TemplateNet with your architecture, retrain, save the state dict with
safetensors.torch.save_file and update sha256 in plugin.toml (`clarity plugin hash FILE`).
"""

from __future__ import annotations

import torch
from torch import nn

from plugins.api import Manifest, ParamValues, Restorer, WeightsBundle

SCALE = {scale}
WIDTH = {width}


class TemplateNet(nn.Module):
    """conv-relu-conv-relu-conv predicting a correction (for SCALE > 1: sub-pixel upsampling)."""

    def __init__(self, channels: int = 3, width: int = WIDTH, scale: int = SCALE) -> None:
        super().__init__()
        self.scale = scale
        self.head = nn.Conv2d(channels, width, 3, padding=1)
        self.body = nn.Conv2d(width, width, 3, padding=1)
        self.tail = nn.Conv2d(width, channels * scale * scale, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.shuffle = nn.PixelShuffle(scale) if scale > 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.tail(self.act(self.body(self.act(self.head(x))))))


class TemplateRestorer(Restorer):
    """Adds ``amount`` times the predicted correction to the (upscaled) input."""

    def forward(self, x: torch.Tensor, params: ParamValues) -> torch.Tensor:
        base = x if SCALE == 1 else nn.functional.interpolate(x, scale_factor=SCALE, mode="nearest")
        return base + params.float("amount") * self.network(x)


def build(manifest: Manifest, weights: WeightsBundle) -> Restorer:
    """Entry point named in plugin.toml (entry = "model:build")."""
    net = TemplateNet(channels=3)
    net.load_state_dict(weights["main"])
    return TemplateRestorer(manifest, net)
'''

MANIFEST_TEMPLATE = '''\
# Clarity Studio plugin manifest; reference: docs/plugins.md
id = "{plugin_id}"
name = "{name}"
version = "0.1.0"
task = "{task}"
menu = "{name}"
description = "Template {task} plugin created by `clarity plugin new` (identity until trained)."
license = "MIT"
entry = "model:build"
scale = {scale}
channels = [3]
fp16 = true
bf16 = true

[tiling]
policy = "tiled"        # purely convolutional: tiles give the same result as a whole-image run
context = 3             # three 3x3 convolutions see 3 pixels around each output pixel
size_multiple = 1
min_tile = 0

[[parameters]]
name = "amount"
type = "float"
label = "Amount"
help = "How much of the network's correction to apply."
min = 0.0
max = 2.0
step = 0.05
default = 1.0

[[weights]]
name = "main"
file = "weights.safetensors"
sha256 = "{sha256}"
'''

MODEL_CARD_TEMPLATE = '''\
# {name}

Template plugin created by `clarity plugin new` (task: {task}, scale: {scale}).

- **Architecture**: residual 3-layer 3x3 conv network, {width} channels (`model.py`).
- **Weights**: `weights.safetensors`, last layer zero-initialised (identity filter until trained).
- **Training data**: _describe the data set, its license and the degradation model._
- **Evaluation**: _PSNR/SSIM on the validation protocol, with the command used._
- **Limitations**: _what it should not be used for._
- **License**: MIT (update if your weights or data require otherwise).
'''


def slugify(name: str) -> str:
    """A manifest id from a display name: ``"My Denoiser 2"`` -> ``"my-denoiser-2"``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def scaffold_plugin(
    name: str,
    parent: Path,
    *,
    task: Task | str = Task.DENOISE,
    scale: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a working template plugin into ``parent/<id>`` and return that folder.

    ``name`` is the display name; the id (and folder name) is its slug. ``scale`` defaults to 2
    for super-resolution and 1 otherwise. Writes ``plugin.toml`` (with the weights' sha256),
    ``model.py``, ``weights.safetensors`` and ``MODEL.md``. Raises :class:`PluginError` if the
    name has no usable characters, the task is unknown, or the folder exists (unless ``overwrite``).
    """
    import torch
    from safetensors.torch import save_file


    plugin_id = slugify(name)
    if not plugin_id or not ID_PATTERN.match(plugin_id):
        raise PluginError(name, "a plugin name needs letters or digits, e.g. `clarity plugin new \"My Denoise\"`")
    try:
        task = Task(task)
    except ValueError:
        raise PluginError(plugin_id, f"unknown task '{task}'; use one of: {', '.join(t.value for t in Task)}") from None
    if scale is None:
        scale = 2 if task is Task.SUPER_RESOLUTION else 1
    if not 1 <= scale <= 8:
        raise PluginError(plugin_id, f"scale {scale} must be 1..8")
    display = name.strip().replace('"', "'")
    folder = Path(parent) / plugin_id
    if folder.exists() and not overwrite and any(folder.iterdir()):
        raise PluginError(plugin_id, f"{folder} already exists and is not empty; choose another name or delete it")
    folder.mkdir(parents=True, exist_ok=True)

    sr_note = f" upscaled x{scale} (nearest neighbour)" if scale > 1 else ""
    source = MODEL_TEMPLATE.format(name=display, scale=scale, width=TEMPLATE_WIDTH, sr_note=sr_note)
    namespace: dict[str, object] = {"__name__": "clarity_scaffold_template"}
    exec(compile(source, str(folder / "model.py"), "exec"), namespace)  # noqa: S102 - our own template
    torch.manual_seed(0)
    net = namespace["TemplateNet"](channels=3)  # type: ignore[operator]
    with torch.no_grad():
        net.tail.weight.zero_()
        net.tail.bias.zero_()
    state = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    weights = folder / "weights.safetensors"
    save_file(state, str(weights))
    give_default_mode(weights)  # safetensors writes 0600
    (folder / "model.py").write_text(source, encoding="utf-8")
    (folder / MANIFEST_NAME).write_text(
        MANIFEST_TEMPLATE.format(plugin_id=plugin_id, name=display, task=task.value, scale=scale, sha256=sha256_file(weights)),
        encoding="utf-8",
    )
    (folder / "MODEL.md").write_text(
        MODEL_CARD_TEMPLATE.format(name=display, task=task.value, scale=scale, width=TEMPLATE_WIDTH), encoding="utf-8"
    )
    return folder


__all__ = ["scaffold_plugin", "slugify"]
