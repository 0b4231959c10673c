"""``--grow``: a deeper ResUNet starts from a shallower one's weights with exactly its outputs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import TypeVar

import pytest
import torch
from safetensors.torch import save_file

from engine.cli.main import main as clarity
from engine.core.errors import ClarityError
from engine.training.checkpoint import load_state_file
from engine.training.grow import grow_state
from plugins.nets.resunet import ResUNet
from tests.training.test_trainer import make_images

SHALLOW = dict(channels=3, widths=(8, 16, 32), enc_blocks=1, dec_blocks=1, bottom_dilations=(1, 1), noise_map=True)
DEEP = dict(SHALLOW, enc_blocks=2, dec_blocks=2, bottom_dilations=(1, 1, 1, 1))


NetT = TypeVar("NetT", bound=torch.nn.Module)


def _trained_like(net: NetT) -> NetT:
    """Perturb every parameter so no tensor is at its initial value (zeroed biases included)."""
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return net


def test_grown_network_computes_exactly_what_the_shallow_one_computed() -> None:
    torch.manual_seed(0)
    shallow = _trained_like(ResUNet(**SHALLOW)).eval()
    deep = ResUNet(**DEEP).eval()
    added = grow_state(deep, shallow.state_dict())
    assert added == ["encoders.0.1", "encoders.1.1", "decoders.0.1", "decoders.1.1", "bottom.2", "bottom.3"]
    x, sigma = torch.rand(2, 3, 32, 40), torch.tensor([0.1, 0.2])
    with torch.no_grad():
        assert torch.equal(deep(x, sigma), shallow(x, sigma))
    # the new blocks' first convs keep a random init, so gradients reach them once conv2 moves
    assert deep.bottom[2].conv1.weight.abs().sum() > 0 and deep.bottom[2].conv2.weight.abs().sum() == 0


def test_grown_upscale_body_computes_what_the_shorter_one_computed() -> None:
    """Upscale's body: 16 -> 18 blocks (the body's last conv keeps its own name, so only blocks are new)."""
    from plugins.upscale.model import upscale_net

    torch.manual_seed(1)
    short = _trained_like(upscale_net(blocks=2, features=8)).eval()
    long = upscale_net(blocks=4, features=8).eval()
    assert grow_state(long, short.state_dict()) == ["body.2", "body.3"]
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        for s in (2, 3, 4):
            assert torch.equal(long(x, scale=s), short(x, scale=s))


def test_grow_refuses_anything_but_whole_new_residual_blocks() -> None:
    shallow = ResUNet(**SHALLOW).state_dict()
    with pytest.raises(ClarityError, match="lacks"):  # a tensor the network does not have
        grow_state(ResUNet(**SHALLOW), {**shallow, "extra.weight": torch.zeros(1)})
    with pytest.raises(ClarityError, match="only adds residual blocks"):  # a wider network
        grow_state(ResUNet(**dict(SHALLOW, widths=(8, 16, 48))), shallow)
    partial = {k: v for k, v in shallow.items() if k != "bottom.1.conv2.bias"}
    with pytest.raises(ClarityError, match=r"bottom\.1\.conv2\.bias.*not in a whole new residual block"):
        grow_state(ResUNet(**SHALLOW), partial)
    no_head = {k: v for k, v in shallow.items() if not k.startswith("head.")}
    with pytest.raises(ClarityError, match="head.bias"):
        grow_state(ResUNet(**SHALLOW), no_head)
    assert grow_state(ResUNet(**SHALLOW), shallow) == []  # same shape: a plain load


ARCH = '''
from plugins.nets.resunet import ResUNet

def unet(bottom=2):
    return ResUNet(channels=1, widths=(4, 8), bottom_dilations=(1,) * bottom)
'''


def test_cli_init_grow_starts_from_the_weights_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``clarity train --init W --grow``: step 0 of the deeper net equals W's net; without --grow it is refused with a hint."""
    (tmp_path / "growmod").mkdir()
    (tmp_path / "growmod" / "grow_arch.py").write_text(ARCH)
    monkeypatch.syspath_prepend(str(tmp_path / "growmod"))
    import grow_arch  # type: ignore[import-not-found]

    shallow = _trained_like(grow_arch.unet(2))
    weights = tmp_path / "shallow.safetensors"
    save_file({k: v.contiguous() for k, v in shallow.state_dict().items()}, str(weights))
    train = make_images(tmp_path / "train", 3, 24, seed=1)
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(textwrap.dedent(f"""
        name = "grow"
        [model]
        arch = "grow_arch:unet"
        args = {{ bottom = 3 }}
        [data]
        train = ["{train}"]
        gray = true
        patch = 16
        batch = 2
        degradation = ["awgn:25"]
        [optim]
        lr = 1e-9
        warmup_steps = 0
        ema_decay = 0.0
        [run]
        steps = 1
        [val]
        every = 0
    """))
    base = ["train", "--config", str(cfg), "--init", str(weights), "--device", "cpu", "--quiet"]
    assert clarity([*base, "--out", str(tmp_path / "plain")]) != 0
    assert "add --grow" in capsys.readouterr().err
    assert clarity([*base, "--out", str(tmp_path / "grown"), "--grow"]) == 0
    grown = grow_arch.unet(3)
    grown.load_state_dict(load_state_file(tmp_path / "grown" / "last.safetensors"))
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(grown(x), shallow(x), atol=1e-6)  # lr 1e-9: one step leaves the grown function as it was
    commands = json.loads((tmp_path / "grown" / "last.json").read_text())["commands"]
    assert commands[0].endswith(f"--init {weights} --grow --device cpu")  # the model card's exact command
    assert clarity(["train", "--config", str(cfg), "--out", str(tmp_path / "nogrow"), "--grow", "--device", "cpu", "--quiet"]) != 0
    assert "give --init too" in capsys.readouterr().err


@pytest.mark.parametrize(("shallow_layers", "deep_layers"), [(5, 10), (2, 5), (1, 4), (3, 3)])
def test_grown_rednet_computes_exactly_what_the_shallower_one_computed(shallow_layers: int, deep_layers: int) -> None:
    """RED-Net's mirrored skips tie names to the depth: the network maps the weights itself (RED-Net10 -> 20 first)."""
    from plugins.upscale_rednet.model import REDNet

    torch.manual_seed(2)
    shallow = _trained_like(REDNet(channels=3, layers=shallow_layers, features=8)).eval()
    deep = REDNet(channels=3, layers=deep_layers, features=8).eval()
    added = grow_state(deep, shallow.state_dict())
    shift = deep_layers - shallow_layers
    assert added == [f"convs.{i}" for i in range(shallow_layers, deep_layers)] + [f"deconvs.{j}" for j in range(shift)]
    x = torch.rand(2, 3, 20, 24)
    with torch.no_grad():
        assert torch.equal(deep(x), shallow(x))
    # the shallow net's deconvs moved to the end, where the skips meet them again
    assert torch.equal(deep.deconvs[deep_layers - 1].weight, shallow.deconvs[shallow_layers - 1].weight)
    for j in range(1, shift + 1):  # a new deconv that receives a skip is zeroed (it passes the skip on), others are identities
        expected = 0 if (deep_layers - j) % 2 == 0 else 8  # the Dirac kernel: one 1 per channel
        assert deep.deconvs[j - 1].weight.abs().sum() == expected


def test_rednet_grow_refuses_a_deeper_wider_or_foreign_state() -> None:
    from plugins.upscale_rednet.model import REDNet

    five = REDNet(channels=3, layers=5, features=8).state_dict()
    with pytest.raises(ClarityError, match="only 3 \\+ 3"):
        grow_state(REDNet(channels=3, layers=3, features=8), five)
    with pytest.raises(ClarityError, match="another width or channel count"):
        grow_state(REDNet(channels=3, layers=8, features=16), five)
    with pytest.raises(ClarityError, match="not a RED-Net's.*deconvs.4.bias"):
        grow_state(REDNet(channels=3, layers=8, features=8), {k: v for k, v in five.items() if k != "deconvs.4.bias"})
    with pytest.raises(ClarityError, match="not a RED-Net's"):
        grow_state(REDNet(channels=3, layers=8, features=8), ResUNet(**SHALLOW).state_dict())
