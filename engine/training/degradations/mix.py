"""Per-sample mixture of same-size degradations (``mix:rain,haze,snow``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.training.degradations.base import Degradation, DegradedBatch, check_clean


@dataclass(frozen=True)
class Mix:
    """Each sample gets one member chosen uniformly; ``kind`` labels say which.

    Members run on their sub-batches in member order (deterministic for a generator seed).
    ``sigma`` is reported only when every chosen member reports it.
    """

    members: tuple[Degradation, ...]

    @property
    def name(self) -> str:
        """``mix:A,B,...``."""
        return "mix:" + ",".join(m.name for m in self.members)

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> DegradedBatch:
        check_clean(clean, self.name)
        n = clean.shape[0]
        choice = torch.randint(0, len(self.members), (n,), generator=generator, device=clean.device)
        degraded = torch.empty_like(clean)
        kinds: list[str] = [""] * n
        sigma = torch.zeros(n, device=clean.device, dtype=clean.dtype)
        all_sigma = True
        for j, member in enumerate(self.members):
            idx = (choice == j).nonzero().flatten()
            if idx.numel() == 0:
                continue
            part = member(clean[idx], generator)
            degraded[idx] = part.degraded
            for pos, k in zip(idx.tolist(), part.kind):
                kinds[pos] = k
            if part.sigma is None:
                all_sigma = False
            else:
                sigma[idx] = part.sigma
        return DegradedBatch(degraded=degraded, clean=clean, kind=tuple(kinds), sigma=sigma if all_sigma else None)
