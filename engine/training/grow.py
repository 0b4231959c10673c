"""Start a deeper network from a shallower one's weights, computing the same function (``--grow``).

Net2Net-style deepening for residual networks: every tensor of the given weights is copied into
the network under the same name and shape, and each residual block the weights lack starts as an
identity (its last convolution zeroed, see :class:`IdentityInitialisable`), so at step 0 the grown
network computes exactly what the weights computed and training only adds to it. A network whose
layer names move with its depth (RED-Net's mirrored skips) implements :class:`GrowableNetwork`
and maps the shallower weights itself, under the same contract. Anything else
that does not line up (an unexpected tensor, a changed shape, a missing tensor outside a residual
block) is an error: growing never silently re-initialises a trained layer.
"""

from __future__ import annotations

from typing import Protocol, cast, runtime_checkable

import torch
from torch import nn

from engine.core.errors import ClarityError


@runtime_checkable
class IdentityInitialisable(Protocol):
    """A residual block ``x + f(x)`` that can zero its branch ``f`` so that it returns ``x``."""

    def make_identity(self) -> None:
        """Zero the residual branch's last layer: the block becomes the identity (and stays trainable)."""


@runtime_checkable
class GrowableNetwork(Protocol):
    """A network that maps a shallower member of its family onto itself (layers renamed, not only added)."""

    def grown_state(self, state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
        """This network's complete state computing what ``state`` computes, plus the names of the new layers.

        Raises :class:`ClarityError` when ``state`` is not a shallower (or equal) member of the family.
        """


def grow_state(net: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Load ``state`` into ``net``, turning the residual blocks it lacks into identities.

    A :class:`GrowableNetwork` (RED-Net, whose skips tie layer names to the depth) builds its own
    grown state instead. Returns the names of the blocks or layers made identities (empty when
    ``state`` fits ``net`` exactly). Raises :class:`ClarityError` when ``state`` holds a tensor
    ``net`` lacks, a tensor of another shape, or lacks a tensor that is not inside an
    identity-initialisable block.
    """
    if isinstance(net, GrowableNetwork):
        full, added = net.grown_state(state)
        net.load_state_dict(full, strict=True)
        return added
    own = net.state_dict()
    unexpected = sorted(set(state) - set(own))
    if unexpected:
        raise ClarityError(f"--grow: the weights hold tensors the network lacks: {', '.join(unexpected[:5])}")
    reshaped = [k for k in state if tuple(state[k].shape) != tuple(own[k].shape)]
    if reshaped:
        k = reshaped[0]
        raise ClarityError(
            f"--grow only adds residual blocks; {k} is {tuple(state[k].shape)} in the weights and {tuple(own[k].shape)} in the network"
        )
    missing = set(own) - set(state)
    blocks = _new_blocks(net, missing)
    for name in blocks:
        cast(IdentityInitialisable, net.get_submodule(name)).make_identity()
    net.load_state_dict(state, strict=False)  # the only keys left out are the new blocks' (checked above)
    return blocks


def _new_blocks(net: nn.Module, missing: set[str]) -> list[str]:
    """The smallest identity-initialisable modules that hold all of ``missing`` (each one wholly missing)."""
    blocks: list[str] = []
    covered: set[str] = set()
    for name, module in net.named_modules():
        if not name or not isinstance(module, IdentityInitialisable) or any(name.startswith(b + ".") for b in blocks):
            continue
        keys = {f"{name}.{k}" for k in module.state_dict()}
        if keys and keys <= missing:
            blocks.append(name)
            covered |= keys
    stray = sorted(missing - covered)
    if stray:
        raise ClarityError(
            f"--grow: the weights lack {', '.join(stray[:5])}, which is not in a whole new residual block; "
            "only residual blocks can be added"
        )
    return blocks
