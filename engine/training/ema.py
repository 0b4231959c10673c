"""Exponential moving average of a model's parameters (and a copy of its buffers)."""

from __future__ import annotations

import torch


class EMA:
    """Keeps ``shadow = decay * shadow + (1 - decay) * param`` after every optimizer step.

    Floating-point entries of the shadow are float32 (integer buffers such as BatchNorm's
    ``num_batches_tracked`` keep their dtype) on the model's device; :meth:`state_dict` returns a state
    dict with the model's keys (loadable into the same architecture).
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay {decay} must be in (0, 1)")
        self.decay = decay
        self.shadow: dict[str, torch.Tensor] = {
            k: v.detach().clone().float() if v.is_floating_point() else v.detach().clone() for k, v in model.state_dict().items()
        }

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Blend the model's current parameters into the shadow; buffers are copied."""
        params = dict(model.named_parameters())
        avg_s: list[torch.Tensor] = []
        avg_v: list[torch.Tensor] = []
        for k, v in model.state_dict().items():
            s = self.shadow[k]
            if k in params and v.is_floating_point():
                avg_s.append(s)
                avg_v.append(v.detach().float())
            else:
                s.copy_(v.detach())
        if avg_s:
            torch._foreach_mul_(avg_s, self.decay)
            torch._foreach_add_(avg_s, avg_v, alpha=1.0 - self.decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged weights, keyed like ``model.state_dict()``."""
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the shadow (from a checkpoint)."""
        for k in self.shadow:
            self.shadow[k].copy_(state[k])
