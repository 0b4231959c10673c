"""Exponential moving average of a model's parameters (and a copy of its buffers)."""

from __future__ import annotations

import torch


def warmup_decay(decay: float, updates: int) -> float:
    """The decay used for the ``updates``-th update (1-based): ``min(decay, (1 + n) / (10 + n))``.

    With ``n = updates - 1`` this is 0.1 at the first update (the shadow becomes 90 % the
    current weights, so the random initialisation is forgotten at once), 0.5 at the 9th, 0.9
    at the 81st, and reaches ``decay`` after about ``decay / (1 - decay)`` updates (999 for
    0.999). A short run therefore exports an average of its recent weights, never a blend
    with the initialisation.
    """
    n = max(0, updates - 1)
    return min(decay, (1.0 + n) / (10.0 + n))


class EMA:
    """Keeps ``shadow = d * shadow + (1 - d) * param`` after every optimizer step.

    ``d`` warms up with the number of updates (:func:`warmup_decay`) and is capped at
    ``decay``. The caller passes the 1-based update count to :meth:`update` (the trainer passes
    its step, which checkpoints restore), so a resumed run blends exactly as an uninterrupted
    one. Floating-point entries of the shadow are float32 (integer buffers such as BatchNorm's
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
    def update(self, model: torch.nn.Module, updates: int) -> None:
        """Blend the model's current parameters into the shadow as the ``updates``-th update (1-based); buffers are copied."""
        decay = warmup_decay(self.decay, updates)
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
            torch._foreach_mul_(avg_s, decay)
            torch._foreach_add_(avg_s, avg_v, alpha=1.0 - decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged weights, keyed like ``model.state_dict()``."""
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the shadow (from a checkpoint)."""
        for k in self.shadow:
            self.shadow[k].copy_(state[k])
