"""Two-stage distillation on the CPU with tiny random teachers and a stand-in mixed degradation."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import engine.training.degradations as degradations
from engine.core.errors import ClarityError
from engine.cli.main import main as clarity
from engine.training.config import TrainConfig
from engine.training.degradations import DegradedBatch
from engine.training.distill import Distiller
from engine.training.features import ConvEncoder, forward_with_features, save_encoder
from engine.training.losses import hard_contrastive, soft_contrastive

sys.path.insert(0, str(Path(__file__).parent))
from test_trainer import ARCH_SRC, make_images  # noqa: E402


class StandInMix:
    """Deterministic stand-in for ``mix:rain,haze``: even samples get 'rain' (noise), odd 'haze' (veil)."""

    name = "mix"

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> DegradedBatch:
        n = clean.shape[0]
        noise = torch.randn(clean.shape, generator=generator, device=clean.device) * 0.1
        veil = 0.6 * clean + 0.4
        kinds = tuple("rain" if i % 2 == 0 else "haze" for i in range(n))
        rain = torch.tensor([k == "rain" for k in kinds], device=clean.device).view(n, 1, 1, 1)
        return DegradedBatch(degraded=torch.where(rain, clean + noise, veil), clean=clean, kind=kinds)


class StandInCleanMix:
    """``mix:rain,none`` stand-in: even samples 'rain' (noise), odd ones clean ('none', degraded = clean)."""

    name = "mix"

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> DegradedBatch:
        n = clean.shape[0]
        noise = torch.randn(clean.shape, generator=generator, device=clean.device) * 0.1
        kinds = tuple("rain" if i % 2 == 0 else "none" for i in range(n))
        rain = torch.tensor([k == "rain" for k in kinds], device=clean.device).view(n, 1, 1, 1)
        return DegradedBatch(degraded=torch.where(rain, clean + noise, clean), clean=clean, kind=kinds)


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "archmod"
    d.mkdir()
    (d / "tiny_arch_distill.py").write_text(ARCH_SRC)
    monkeypatch.syspath_prepend(str(d))
    real = degradations.parse_degradation
    stand_ins = {"standin-mix": StandInMix, "standin-clean-mix": StandInCleanMix}
    monkeypatch.setattr(degradations, "parse_degradation", lambda s: stand_ins[s]() if s in stand_ins else real(s))
    import tiny_arch_distill

    for i, kind in enumerate(("rain", "haze")):
        torch.manual_seed(100 + i)
        save_file(tiny_arch_distill.tiny(features=4).state_dict(), str(tmp_path / f"{kind}.safetensors"))
    return tmp_path


def write_cfg(tmp: Path, *, layers: str = "[]", features: str = "pixel", weight: float = 0.1, steps: int = 4) -> Path:
    train = make_images(tmp / "train", 3, 24, seed=5)
    cfg = tmp / "distill.toml"
    cfg.write_text(textwrap.dedent(f"""
        name = "tiny-distill"
        seed = 1
        [model]
        arch = "tiny_arch_distill:tiny"
        args = {{ features = 4 }}
        [data]
        train = ["{train}"]
        gray = true
        patch = 16
        batch = 4
        degradation = ["standin-mix"]
        [optim]
        lr = 0.01
        [run]
        steps = {steps}
        checkpoint_every = 2
        log_every = 1
        [distill]
        teachers = {{ rain = "{tmp / 'rain.safetensors'}", haze = "{tmp / 'haze.safetensors'}" }}
        feature_layers = {layers}
        common_channels = 8
        stage2_step = 2
        contrast_weight = {weight}
        contrast_features = "{features}"
    """))
    return cfg


def grads_after_one_step(d: Distiller, step: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    clean = d.sampler.next()
    batch = d.degradations[0](clean, d.deg_gen)
    d.opt.zero_grad(set_to_none=True)
    loss, terms = d.compute_loss(step, batch)
    loss.backward()
    return terms, loss


@pytest.mark.parametrize("layers,features", [("[]", "pixel"), ('["head"]', "teacher")])
def test_both_stages_finite_terms_and_gradient_flow(setup: Path, layers: str, features: str) -> None:
    cfg = TrainConfig.from_toml(write_cfg(setup, layers=layers, features=features))
    d = Distiller(cfg, setup / "run", device="cpu", log=None)
    assert d.stage_of(1) == 1 and d.stage_of(2) == 2
    terms, loss = grads_after_one_step(d, 0)
    assert set(terms) == {"kd_out", "kd_feat", "ckt_rec", "soft_cr"}
    assert all(torch.isfinite(v) and v > 0 for v in terms.values()) and torch.isfinite(loss)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in d.net.parameters())
    ckt = d.aux
    for kind in ("rain", "haze"):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in ckt.proj[kind].parameters())
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in ckt.recon[kind].parameters())
    assert all(p.grad is not None for p in ckt.student_proj.parameters())
    assert all(p.grad is None and not p.requires_grad for t in d.teachers.values() for p in t.parameters())
    terms2, _ = grads_after_one_step(d, 2)
    assert set(terms2) == {"l1_gt", "hard_cr"} and all(torch.isfinite(v) for v in terms2.values())
    assert all(p.grad is not None for p in d.net.parameters())
    assert all(p.grad is None for p in ckt.parameters())


def test_kd_output_term_is_exact_l1_to_responsible_teacher(setup: Path) -> None:
    cfg = TrainConfig.from_toml(write_cfg(setup, weight=0.0))
    d = Distiller(cfg, setup / "run", device="cpu", log=None)
    terms = assert_kd_out_is_l1_to_responsible_teacher(d)
    assert "soft_cr" not in terms  # ablation switch


def assert_kd_out_is_l1_to_responsible_teacher(d: Distiller) -> dict[str, torch.Tensor]:
    """One stage-1 loss on a stand-in mix batch: ``kd_out`` equals the student's mean L1 to each sample's teacher."""
    clean = d.sampler.next()
    batch = d.degradations[0](clean, d.deg_gen)
    _, terms = d.compute_loss(0, batch)
    with torch.no_grad():
        out = d.net(batch.degraded)
        expect = 0.5 * (out[0::2] - d.teachers["rain"](batch.degraded[0::2])).abs().mean() + 0.5 * (
            out[1::2] - d.teachers["haze"](batch.degraded[1::2])).abs().mean()
    assert float(terms["kd_out"].detach()) == pytest.approx(float(expect), rel=1e-5)
    return terms


def test_student_of_another_size_distils_from_teachers_named_by_teacher_arch(setup: Path) -> None:
    """A wider student (features 6) learns from the 4-feature teachers once ``teacher_arch`` / ``teacher_args`` name them."""
    path = write_cfg(setup)
    wide = path.read_text().replace("args = { features = 4 }", "args = { features = 6 }")
    path.write_text(wide)
    with pytest.raises(ClarityError, match="do not fit model.arch 'tiny_arch_distill:tiny'.*teacher_arch"):
        Distiller(TrainConfig.from_toml(path), setup / "run0", device="cpu", log=None)
    path.write_text(wide.replace('contrast_weight = 0.1', 'contrast_weight = 0.1\nteacher_arch = "tiny_arch_distill:tiny"\n'
                                 'teacher_args = { features = 4 }'))
    d = Distiller(TrainConfig.from_toml(path), setup / "run", device="cpu", log=None)
    assert [m.in_channels for m in d.aux.student_proj] == [6]
    assert [m.in_channels for m in d.aux.proj["rain"]] == [4]
    assert_kd_out_is_l1_to_responsible_teacher(d)


POOLED_SRC = """
import torch
from tiny_arch_distill import Tiny

class Pooled(Tiny):
    \"\"\"Tiny whose feature map is exposed at half resolution (a level that does not line up with Tiny's).\"\"\"
    def forward_features(self, x):
        out, (h,) = super().forward_features(x)
        return out, [torch.nn.functional.avg_pool2d(h, 2)]
"""


def test_teachers_whose_features_have_other_sizes_are_refused(setup: Path) -> None:
    (setup / "archmod" / "tiny_pooled_distill.py").write_text(POOLED_SRC)
    import tiny_pooled_distill

    for kind in ("rain", "haze"):
        save_file(tiny_pooled_distill.Pooled(features=4).state_dict(), str(setup / f"{kind}.safetensors"))
    path = write_cfg(setup)
    path.write_text(path.read_text().replace("contrast_weight = 0.1", 'contrast_weight = 0.1\nteacher_arch = "tiny_pooled_distill:Pooled"'))
    with pytest.raises(ClarityError, match=r"do not line up \(sizes \[\(16, 16\)\] vs \[\(8, 8\)\]\)"):
        Distiller(TrainConfig.from_toml(path), setup / "run", device="cpu", log=None)


def test_teacher_args_without_teacher_arch_is_a_config_error(setup: Path) -> None:
    path = write_cfg(setup)
    path.write_text(path.read_text().replace("contrast_weight = 0.1", "contrast_weight = 0.1\nteacher_args = { features = 4 }"))
    with pytest.raises(ClarityError, match="distill.teacher_args.*needs distill.teacher_arch"):
        TrainConfig.from_toml(path)


def test_clean_samples_need_no_teacher_and_are_pulled_to_the_photo(setup: Path) -> None:
    """``none`` samples: kd_out is L1 to the clean image for them, no feature terms, no contrast; a stray kind still fails."""
    path = write_cfg(setup, features="pixel")
    path.write_text(path.read_text().replace('degradation = ["standin-mix"]', 'degradation = ["standin-clean-mix"]'))
    d = Distiller(TrainConfig.from_toml(path), setup / "run", device="cpu", log=None)
    clean = d.sampler.next()
    batch = d.degradations[0](clean, d.deg_gen)
    assert batch.kind == ("rain", "none", "rain", "none")
    _, terms = d.compute_loss(0, batch)
    with torch.no_grad():
        out = d.net(batch.degraded)
        rain_out = d.teachers["rain"](batch.degraded[0::2])
        expect_out = 0.5 * (out[0::2] - rain_out).abs().mean() + 0.5 * (out[1::2] - clean[1::2]).abs().mean()
        expect_cr = soft_contrastive(d.phi, out[0::2], rain_out, batch.degraded[0::2])
    assert float(terms["kd_out"].detach()) == pytest.approx(float(expect_out), rel=1e-5)
    assert float(terms["soft_cr"].detach()) == pytest.approx(float(expect_cr), rel=1e-5)
    stray = DegradedBatch(degraded=batch.degraded, clean=clean, kind=("rain", "fog", "rain", "none"))
    with pytest.raises(ClarityError, match="no 'fog' teacher"):
        d.compute_loss(0, stray)

def test_contrastive_ratios_exact() -> None:
    phi = lambda x: [x]  # noqa: E731
    a = torch.zeros(2, 1, 2, 2)
    pos = torch.full_like(a, 1.0)
    neg = torch.full_like(a, 4.0)
    assert float(soft_contrastive(phi, a, pos, neg)) == pytest.approx(0.25)
    negs = torch.stack([torch.full((1, 2, 2), 2.0), torch.full((1, 2, 2), 6.0)])
    assert float(hard_contrastive(phi, a, pos, negs)) == pytest.approx(1 / 4)  # mean distance (2+6)/2



def test_hard_contrastive_matches_its_definition_per_sample() -> None:
    """Every anchor against every negative, with gradients: the fused distance equals the loop it replaced."""
    gen = torch.Generator().manual_seed(3)
    phi = lambda x: [x, 2.0 * x[:, :, ::2, ::2]]  # noqa: E731  (two levels of different sizes)
    a = torch.randn(4, 3, 6, 6, generator=gen, requires_grad=True)
    pos, negs = torch.randn(4, 3, 6, 6, generator=gen), torch.randn(4, 3, 6, 6, generator=gen)

    def by_definition(anchor: torch.Tensor) -> torch.Tensor:
        total = anchor.new_zeros(())
        for fa, fp, fn in zip(phi(anchor), phi(pos), phi(negs)):
            num = (fa - fp).abs().flatten(1).mean(1)
            den = torch.stack([(fa - fn[j]).abs().flatten(1).mean(1) for j in range(4)], 1).mean(1)
            total = total + (num / (den + 1e-7)).mean()
        return total

    fused = hard_contrastive(phi, a, pos, negs)
    (grad_fused,) = torch.autograd.grad(fused, a)
    expected = by_definition(a)
    (grad_expected,) = torch.autograd.grad(expected, a)
    assert float(fused) == pytest.approx(float(expected), rel=1e-5)
    assert torch.allclose(grad_fused, grad_expected, rtol=1e-4, atol=1e-6)

def test_cli_distill_across_stages_with_resume_and_encoder(setup: Path) -> None:
    enc_path = setup / "enc.safetensors"
    cfg = write_cfg(setup, features=f"encoder:{enc_path}")
    assert clarity(["distill", "--config", str(cfg), "--train-encoder", str(enc_path), "--encoder-steps", "2", "--quiet", "--device", "cpu"]) == 0
    assert set(k.split(".")[0] for k in load_file(str(enc_path))) == {"level1", "level2", "level3"}
    out = setup / "run"
    assert clarity(["distill", "--config", str(cfg), "--out", str(out), "--steps", "3", "--quiet", "--device", "cpu"]) == 3
    assert json.loads((out / "last.json").read_text())["stage"] == 2
    assert clarity(["distill", "--resume", str(out), "--quiet", "--device", "cpu"]) == 0
    lines = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [sorted(r["terms"]) for r in lines] == [["ckt_rec", "kd_feat", "kd_out", "soft_cr"]] * 2 + [["hard_cr", "l1_gt"]] * 2
    ck = load_file(str(out / "last.safetensors"))
    assert any(k.startswith("aux.proj.rain") for k in ck) and not any("teacher" in k for k in ck)


def test_forward_with_features_hooks_and_errors(setup: Path) -> None:
    import tiny_arch_distill

    net = tiny_arch_distill.tiny()
    x = torch.rand(1, 1, 8, 8)
    out, feats = forward_with_features(net, x, ["head"])
    assert torch.equal(out, net(x)) and feats[0].shape == (1, 4, 8, 8)
    with pytest.raises(Exception, match="not submodules"):
        forward_with_features(net, x, ["nope"])
    enc = ConvEncoder(1, 4)
    save_encoder(enc, setup / "e.safetensors")
    assert [f.shape[-1] for f in enc(torch.rand(1, 1, 16, 16))] == [16, 8, 4]
