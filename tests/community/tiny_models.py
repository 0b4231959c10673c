"""Random-weight tiny instances of spandrel architectures (denoise and SR) for the import tests.

Each factory returns a ``torch.nn.Module`` built with spandrel's own architecture class and
small widths, so detection, import and runs take milliseconds. Weights are seeded.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from plugins.community.spandrel_compat import import_spandrel


def _dncnn() -> torch.nn.Module:
    from spandrel.architectures.DnCNN import DnCNN

    return DnCNN(in_nc=3, out_nc=3, nc=8, nb=4, act_mode="BR")


def _drunet() -> torch.nn.Module:
    from spandrel.architectures.DRUNet import DRUNet

    return DRUNet(in_nc=4, out_nc=3, nc=[4, 8, 8, 8], nb=2)


def _swinir() -> torch.nn.Module:
    from spandrel.architectures.SwinIR import SwinIR

    return SwinIR(upscale=2, in_chans=3, img_size=16, window_size=4, img_range=1.0, depths=[1], embed_dim=12,
                  num_heads=[2], mlp_ratio=2, upsampler="pixelshuffledirect", resi_connection="1conv")


def _esrgan() -> torch.nn.Module:
    from spandrel.architectures.ESRGAN import ESRGAN

    return ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=2)


def _compact() -> torch.nn.Module:
    from spandrel.architectures.Compact import Compact

    return Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=3, upscale=4, act_type="prelu")


def _span() -> torch.nn.Module:
    from spandrel.architectures.SPAN import SPAN

    return SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2)


def _nafnet() -> torch.nn.Module:
    from spandrel.architectures.NAFNet import NAFNet

    return NAFNet(img_channel=3, width=8, middle_blk_num=1, enc_blk_nums=[1], dec_blk_nums=[1])


FACTORIES: dict[str, Callable[[], torch.nn.Module]] = {
    "DnCNN": _dncnn,
    "DRUNet": _drunet,
    "SwinIR": _swinir,
    "ESRGAN": _esrgan,
    "Compact": _compact,
    "SPAN": _span,
    "NAFNet": _nafnet,
}
"""spandrel architecture id -> factory (Compact is Real-ESRGAN Compact, SRVGGNet)."""


def tiny_model(arch: str, seed: int = 0) -> torch.nn.Module:
    """A seeded random-weight tiny instance of ``arch`` (a key of :data:`FACTORIES`), in eval mode."""
    import_spandrel()
    torch.manual_seed(seed)
    net = FACTORIES[arch]()
    with torch.no_grad():  # non-trivial weights everywhere (some layers start at zero or one)
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net.eval()


def tiny_state_dict(arch: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """The state dict of :func:`tiny_model` as contiguous CPU tensors."""
    return {k: v.detach().clone().contiguous() for k, v in tiny_model(arch, seed).state_dict().items()}
