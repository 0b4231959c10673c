"""What spandrel detects in a state dict, as a frozen :class:`Detection`.

Contract of :func:`detect`:

- only architectures of spandrel's main package are used (a registry restricted to
  ``spandrel.architectures``); a file that only an architecture of ``spandrel_extra_arches``
  recognises is refused as non-commercial;
- the descriptor must map an image to an image (no inpainting/masked models), with equal
  input and output channels in {1, 3};
- task: ``super-resolution`` for scale > 1, ``denoise`` for the denoiser architectures
  (:data:`DENOISERS`), else ``other``;
- errors are :class:`~plugins.community.model_file.ModelFileError` with one line naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugins.api import Task
from plugins.community.model_file import ModelFileError
from plugins.community.spandrel_compat import import_spandrel

if TYPE_CHECKING:  # pragma: no cover
    import torch

MAIN_PACKAGE = "spandrel.architectures."
DENOISERS: frozenset[str] = frozenset({"DnCNN", "DRUNet", "SCUNet"})
"""spandrel architecture ids whose purpose is denoising."""

ARCH_LICENSES: dict[str, str] = {
    "Compact": "BSD-3-Clause (Real-ESRGAN)",
    "ESRGAN": "Apache-2.0",
    "SwinIR": "Apache-2.0",
    "Swin2SR": "Apache-2.0",
    "SPAN": "Apache-2.0",
    "HAT": "MIT",
    "DAT": "Apache-2.0",
    "DnCNN": "MIT (KAIR)",
    "DRUNet": "MIT (KAIR)",
    "SCUNet": "Apache-2.0",
    "NAFNet": "MIT",
    "RealCUGAN": "MIT",
    "OmniSR": "Apache-2.0",
}
"""Licences of the architectures' reference code, as listed by spandrel's README."""


@dataclass(frozen=True)
class Detection:
    """The facts about a model that go into its plugin (all from spandrel's descriptor)."""

    arch_id: str
    arch_name: str
    arch_license: str
    purpose: str
    task: Task
    scale: int
    channels: int
    size_multiple: int
    min_size: int
    square: bool
    spandrel_tiling: str
    fp16: bool
    bf16: bool
    parameters: int
    tags: tuple[str, ...]


def main_only_loader() -> Any:
    """A spandrel ``ModelLoader`` whose registry holds only the main package's architectures."""
    spandrel = import_spandrel()
    registry = spandrel.ArchRegistry()
    registry.add(*[s for s in spandrel.MAIN_REGISTRY if type(s.architecture).__module__.startswith(MAIN_PACKAGE)])
    return spandrel.ModelLoader(registry=registry)


def load_descriptor(state_dict: dict[str, torch.Tensor], name: str) -> Any:
    """spandrel's ``ImageModelDescriptor`` for ``state_dict`` (``name``: the file, for messages)."""
    spandrel = import_spandrel()
    try:
        descriptor = main_only_loader().load_from_state_dict(dict(state_dict))
    except spandrel.UnsupportedModelError:
        extra = _extra_architecture(state_dict)
        if extra:
            raise ModelFileError(
                f"{name}: architecture {extra} comes from spandrel_extra_arches, whose licences are "
                "non-commercial; it cannot be imported"
            ) from None
        raise ModelFileError(
            f"{name}: unsupported architecture: spandrel recognises none of its {len(state_dict)} tensors "
            "(supported: Real-ESRGAN/Compact, ESRGAN, SwinIR, SPAN, HAT, DRUNet, SCUNet, NAFNet and more)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - an architecture's loader failing on odd shapes
        raise ModelFileError(f"{name}: spandrel could not build the model: {type(exc).__name__}: {exc}") from exc
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise ModelFileError(f"{name}: {descriptor.architecture.name} is an inpainting model (needs a mask); not supported")
    if descriptor.input_channels != descriptor.output_channels or descriptor.input_channels not in (1, 3):
        raise ModelFileError(
            f"{name}: {descriptor.architecture.name} maps {descriptor.input_channels} to "
            f"{descriptor.output_channels} channels; only 1->1 and 3->3 channel models are supported"
        )
    return descriptor


def _extra_architecture(state_dict: dict[str, torch.Tensor]) -> str | None:
    """The name of a non-main architecture in spandrel's registry that detects ``state_dict``."""
    spandrel = import_spandrel()
    for support in spandrel.MAIN_REGISTRY:
        arch = support.architecture
        if not type(arch).__module__.startswith(MAIN_PACKAGE):
            try:
                if arch.detect(state_dict):
                    return arch.name
            except Exception:  # noqa: BLE001 - a detector failing means "not this one"
                continue
    return None


def describe(descriptor: Any) -> Detection:
    """A :class:`Detection` from a spandrel image descriptor."""
    arch = descriptor.architecture
    scale = int(descriptor.scale)
    if scale > 1:
        task = Task.SUPER_RESOLUTION
    elif arch.id in DENOISERS:
        task = Task.DENOISE
    else:
        task = Task.OTHER
    req = descriptor.size_requirements
    return Detection(
        arch_id=str(arch.id),
        arch_name=str(arch.name),
        arch_license=ARCH_LICENSES.get(str(arch.id), "see the architecture's repository (listed in spandrel's README)"),
        purpose=str(descriptor.purpose),
        task=task,
        scale=scale,
        channels=int(descriptor.input_channels),
        size_multiple=int(req.multiple_of),
        min_size=int(req.minimum),
        square=bool(req.square),
        spandrel_tiling=descriptor.tiling.name.lower(),
        fp16=bool(descriptor.supports_half),
        bf16=bool(descriptor.supports_bfloat16),
        parameters=sum(p.numel() for p in descriptor.model.parameters()),
        tags=tuple(str(t) for t in descriptor.tags),
    )


def detection_from_file(path: Path) -> tuple[Detection, dict[str, torch.Tensor], Any]:
    """Read ``path`` safely, detect its architecture: (detection, state dict, descriptor)."""
    from plugins.community.model_file import read_state_dict

    state = read_state_dict(path)
    descriptor = load_descriptor(state, Path(path).name)
    return describe(descriptor), state, descriptor


__all__ = ["ARCH_LICENSES", "DENOISERS", "Detection", "describe", "detection_from_file", "load_descriptor", "main_only_loader"]
