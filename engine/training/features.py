"""Intermediate features of networks, and the frozen feature extractor of the contrastive losses.

- :func:`forward_with_features`: ``(output, [feature maps])`` from any network, either via
  forward hooks on named submodules (``dict(net.named_modules())`` keys, e.g. ``"body.4"``)
  or, with no names, via the network's own ``forward_features(x) -> (output, [maps])``.
- :class:`ConvEncoder`: a small 3-level conv encoder (full, 1/2, 1/4 resolution). ImageNet
  VGG weights cannot be downloaded here, so the project trains this encoder itself as an
  autoencoder on clean crops (:func:`train_encoder`, ``clarity distill --train-encoder``).
- :func:`contrast_extractor`: the frozen ``phi`` of the contrastive terms from a config
  choice: ``"pixel"`` (identity, ``[x]``), ``"teacher"`` (a frozen teacher's features at the
  configured layers) or ``"encoder:PATH"`` (a saved :class:`ConvEncoder`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from engine.core.errors import ClarityError

FeatureFn = Callable[[torch.Tensor], list[torch.Tensor]]


def forward_with_features(net: nn.Module, x: torch.Tensor, layers: Sequence[str], *args: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run ``net(x, *args)`` and return its output plus the outputs of the named ``layers`` (in that order)."""
    if not layers:
        fwd = getattr(net, "forward_features", None)
        if fwd is None:
            raise ClarityError(
                f"{type(net).__name__} has no forward_features(x) -> (out, [features]); set distill.feature_layers "
                "to submodule names, e.g. ['body.4', 'body.10']"
            )
        out, feats = fwd(x, *args)
        return out, list(feats)
    modules = dict(net.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        sample = ", ".join(list(n for n in modules if n)[:12])
        raise ClarityError(f"distill.feature_layers {missing} are not submodules of {type(net).__name__}; some names: {sample}")
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for name in layers:
        def hook(_m: nn.Module, _i: object, out: torch.Tensor, name: str = name) -> None:
            captured[name] = out
        handles.append(modules[name].register_forward_hook(hook))
    try:
        out = net(x, *args)
    finally:
        for h in handles:
            h.remove()
    return out, [captured[n] for n in layers]


class ConvEncoder(nn.Module):
    """3-level conv encoder; ``forward(x)`` returns the three feature maps; ``decode`` reconstructs (training only)."""

    def __init__(self, channels: int = 3, width: int = 32) -> None:
        super().__init__()
        self.channels, self.width = channels, width
        w = width
        self.level1 = nn.Sequential(nn.Conv2d(channels, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1), nn.ReLU())
        self.level2 = nn.Sequential(nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU())
        self.level3 = nn.Sequential(nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(4 * w, 4 * w, 3, padding=1), nn.ReLU())
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(4 * w, 2 * w, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(w, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # type: ignore[override]
        f1 = self.level1(x)
        f2 = self.level2(f1)
        f3 = self.level3(f2)
        return [f1, f2, f3]

    def decode(self, f3: torch.Tensor) -> torch.Tensor:
        """Reconstruct the input (size a multiple of 4) from the deepest map."""
        return self.decoder(f3)


def save_encoder(encoder: ConvEncoder, path: Path | str) -> Path:
    """Write the encoder (without its decoder) as safetensors with its shape in the metadata."""
    from safetensors.torch import save_file

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items() if not k.startswith("decoder.")}
    save_file(state, str(p), metadata={"clarity": json.dumps({"kind": "conv-encoder", "channels": encoder.channels, "width": encoder.width})})
    return p


def load_encoder(path: Path | str, device: torch.device | str = "cpu") -> ConvEncoder:
    """Load a frozen encoder written by :func:`save_encoder`."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    p = Path(path)
    if not p.is_file():
        raise ClarityError(f"contrast encoder {p} does not exist; make one with `clarity distill --config CFG --train-encoder {p}`")
    with safe_open(str(p), framework="pt") as f:
        info = json.loads((f.metadata() or {}).get("clarity", "{}"))
    if info.get("kind") != "conv-encoder":
        raise ClarityError(f"{p} is not a contrast encoder written by `clarity distill --train-encoder`")
    enc = ConvEncoder(int(info["channels"]), int(info["width"]))
    enc.load_state_dict(load_file(str(p)), strict=False)
    return freeze(enc.to(device))


def freeze(net: nn.Module) -> nn.Module:
    """Eval mode and no gradients for the parameters (inputs still get gradients)."""
    net.eval()
    for prm in net.parameters():
        prm.requires_grad_(False)
    return net


def train_encoder(
    images: Sequence[torch.Tensor], *, channels: int, steps: int = 2000, patch: int = 64, batch: int = 16,
    width: int = 32, lr: float = 1e-3, device: torch.device | str = "cpu", seed: int = 0, log: Callable[[str], None] | None = None,
) -> ConvEncoder:
    """Train a :class:`ConvEncoder` as an autoencoder (L1 reconstruction) on clean random crops; returns it frozen."""
    from engine.training.data import CropSampler

    torch.manual_seed(seed)
    patch -= patch % 4
    enc = ConvEncoder(channels, width).to(device)
    sampler = CropSampler(images, patch, batch, device=device, seed=seed)
    opt = torch.optim.Adam(enc.parameters(), lr=lr)
    for step in range(steps):
        x = sampler.next()
        loss = F.l1_loss(enc.decode(enc(x)[-1]), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if log is not None and (step + 1) % max(1, steps // 10) == 0:
            log(f"[encoder] step {step + 1}/{steps} reconstruction L1 {float(loss.detach()):.4f}")
    return freeze(enc)  # type: ignore[return-value]


def contrast_extractor(spec: str, *, teacher: nn.Module | None = None, layers: Sequence[str] = (), device: torch.device | str = "cpu") -> FeatureFn:
    """The frozen ``phi`` for ``distill.contrast_features`` (see the module docstring)."""
    if spec == "pixel":
        return lambda x: [x]
    if spec == "teacher":
        if teacher is None:
            raise ClarityError("contrast_features = 'teacher' needs at least one teacher")
        frozen = freeze(teacher)
        return lambda x: forward_with_features(frozen, x, layers)[1]
    if spec.startswith("encoder:"):
        enc = load_encoder(spec.partition(":")[2], device)
        return lambda x: enc(x)
    raise ClarityError(f"contrast_features '{spec}' is not 'pixel', 'teacher' or 'encoder:PATH'")
