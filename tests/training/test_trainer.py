"""Trainer: real tiny runs on the CPU (tiny images in tmp dirs, a 2-layer net)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from engine.cli.main import main as clarity
from engine.core.errors import ClarityError
from engine.training.config import ConfigError, TrainConfig
from engine.training.trainer import Trainer

ARCH_SRC = '''
import torch
from torch import nn

class Tiny(nn.Module):
    """Residual 2-layer conv net; forward_features exposes the hidden map (for distillation)."""
    def __init__(self, channels=1, features=4):
        super().__init__()
        self.head = nn.Conv2d(channels, features, 3, padding=1)
        self.tail = nn.Conv2d(features, channels, 3, padding=1)
    def forward_features(self, x):
        h = torch.relu(self.head(x))
        return x - self.tail(h), [h]
    def forward(self, x):
        return self.forward_features(x)[0]

class TinyMap(Tiny):
    def forward(self, x, sigma):
        return x - self.tail(torch.relu(self.head(x))) * (sigma * 10)

class TinyBN(nn.Module):
    """conv -> BatchNorm -> ReLU -> conv, residual (a 3-layer DnCNN)."""
    def __init__(self, channels=1, features=4):
        super().__init__()
        self.head = nn.Conv2d(channels, features, 3, padding=1)
        self.bn = nn.BatchNorm2d(features)
        self.tail = nn.Conv2d(features, channels, 3, padding=1)
    def forward(self, x):
        return x - self.tail(torch.relu(self.bn(self.head(x))))

def tiny(channels=1, features=4):
    return Tiny(channels, features)

def tiny_bn(channels=1, features=4):
    return TinyBN(channels, features)

def tiny_map(channels=1, features=4):
    return TinyMap(channels, features)

def tiny_wide(channels=1):
    return Tiny(channels, 6)
'''


def make_images(folder: Path, n: int, size: int, seed: int, channels: int = 1) -> Path:
    """Write ``n`` smooth random PNGs into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        base = 0.5 + 0.4 * np.sin(6 * xx * rng.uniform(0.5, 2) + 4 * yy * rng.uniform(0.5, 2) + i)
        img = np.clip(base[..., None] * rng.uniform(0.6, 1.0, channels), 0, 1)
        arr = (img * 255).round().astype(np.uint8)
        Image.fromarray(arr[..., 0] if channels == 1 else arr).save(folder / f"img{i:02d}.png")
    return folder


@pytest.fixture
def arch_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A tiny architecture module importable as ``tiny_arch_trainer``."""
    d = tmp_path / "archmod"
    d.mkdir()
    (d / "tiny_arch_trainer.py").write_text(ARCH_SRC)
    monkeypatch.syspath_prepend(str(d))
    return "tiny_arch_trainer"


def write_config(tmp_path: Path, arch_module: str, *, steps: int = 6, extra: str = "", optim: str = "", val: bool = True) -> Path:
    train = make_images(tmp_path / "train", 4, 24, seed=1)
    valdir = make_images(tmp_path / "val", 2, 20, seed=2)
    text = textwrap.dedent(f"""
        name = "tiny-run"
        seed = 3
        [model]
        arch = "{arch_module}:tiny"
        args = {{ features = 4 }}
        [data]
        train = ["{train}"]
        gray = true
        patch = 16
        batch = 2
        degradation = ["awgn:0-50"]
        [optim]
        lr = 0.01
        warmup_steps = 2
        ema_decay = 0.5
        {optim}
        [run]
        steps = {steps}
        checkpoint_every = 2
        log_every = 1
        [val]
        folders = ["{valdir}"]
        degradation = "awgn:25"
        every = {3 if val else 0}
        limit = 2
        {extra}
    """)
    p = tmp_path / "cfg.toml"
    p.write_text(text)
    return p


def test_config_rejects_unknown_key_and_names_it(tmp_path: Path, arch_module: str) -> None:
    cfg = write_config(tmp_path, arch_module)
    bad = cfg.read_text().replace("lr = 0.01", "lr = 0.01\nlearning_rate = 3")
    with pytest.raises(ConfigError, match="optim.learning_rate"):
        TrainConfig.from_toml_text(bad)
    with pytest.raises(ConfigError, match="optim.loss"):
        TrainConfig.from_toml_text(cfg.read_text().replace("lr = 0.01", "lr = 0.01\nloss = 'l3'"))


def test_resume_is_bit_identical_to_uninterrupted_run(tmp_path: Path, arch_module: str) -> None:
    cfg = TrainConfig.from_toml(write_config(tmp_path, arch_module, steps=6, optim="grad_clip = 1.0"))
    straight = Trainer(cfg, tmp_path / "a", device="cpu", log=None).run()
    assert straight.finished and straight.step == 6
    first = Trainer(cfg, tmp_path / "b", device="cpu", stop_after=3, log=None).run()
    assert not first.finished and first.step == 3 and first.stopped_by == "steps"
    # scramble global RNGs: resume must restore them
    torch.manual_seed(999)
    np.random.seed(999)
    second = Trainer(cfg, tmp_path / "b", device="cpu", resume=first.last_checkpoint, log=None).run()
    assert second.finished and second.step == 6
    a = load_file(str(straight.last_checkpoint))
    b = load_file(str(second.last_checkpoint))
    for key in [k for k in a if k.startswith(("model.", "ema.", "optim."))]:
        assert torch.equal(a[key], b[key]), key
    assert any(k.startswith("ema.") for k in a) and any(k.startswith("optim.") for k in a)
    # logs were continued, not duplicated; the val rows are equal too
    rows_a = (tmp_path / "a" / "val.csv").read_text().splitlines()
    rows_b = (tmp_path / "b" / "val.csv").read_text().splitlines()
    assert [r.split(",")[:3] for r in rows_a] == [r.split(",")[:3] for r in rows_b]
    assert len((tmp_path / "b" / "train.csv").read_text().splitlines()) == 1 + 6


def test_training_changes_weights_and_lr_follows_schedule(tmp_path: Path, arch_module: str) -> None:
    cfg = TrainConfig.from_toml(write_config(tmp_path, arch_module, steps=4, val=False))
    t = Trainer(cfg, tmp_path / "run", device="cpu", log=None)
    before = {k: v.clone() for k, v in t.net.state_dict().items()}
    res = t.run()
    after = t.net.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    lines = (tmp_path / "run" / "train.csv").read_text().splitlines()[1:]
    lrs = [float(line.split(",")[2]) for line in lines]
    # warmup 2 steps to 0.01, then cosine over the remaining 2 steps: 0.005, 0.01, 0.01, 0.005
    assert lrs == pytest.approx([0.005, 0.01, 0.01, 0.005])
    meta = json.loads((tmp_path / "run" / "last.json").read_text())
    assert meta["step"] == 4 and meta["best_metric"] is None and res.best_checkpoint is None


def test_time_budget_stops_cleanly_with_checkpoint(tmp_path: Path, arch_module: str) -> None:
    cfg = TrainConfig.from_toml(write_config(tmp_path, arch_module, steps=1000, val=False))
    res = Trainer(cfg, tmp_path / "run", device="cpu", minutes=0.001, log=None).run()
    assert res.stopped_by == "time" and not res.finished
    assert res.last_checkpoint.exists() and json.loads((tmp_path / "run" / "last.json").read_text())["step"] == res.step
    with pytest.raises(ClarityError, match="--resume"):
        Trainer(cfg, tmp_path / "run", device="cpu", log=None)  # never silently mixes two runs


def test_noise_map_adapter_and_cli_resume_records_commands(tmp_path: Path, arch_module: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg_path = write_config(tmp_path, arch_module, steps=4)
    text = cfg_path.read_text().replace(":tiny\"", ":tiny_map\"\nnoise_map = true")
    cfg_path.write_text(text)
    out = tmp_path / "run"
    rc = clarity(["train", "--config", str(cfg_path), "--out", str(out), "--steps", "3", "--device", "cpu", "--quiet"])
    assert rc == 3
    rc = clarity(["train", "--resume", str(out), "--device", "cpu", "--quiet"])
    assert rc == 0
    meta = json.loads((out / "last.json").read_text())
    assert meta["step"] == 4 and len(meta["commands"]) == 2 and "--resume" in meta["commands"][1]
    assert meta["config_toml"] == text
    assert (out / "best.safetensors").exists() and (out / "plot.png").exists()
    val = (out / "val.csv").read_text().splitlines()
    # validated every 3 steps and once more at the final step 4 (the weights a finished run exports)
    assert [int(r.split(",")[0]) for r in val[1:]] == [3, 4] and 10 < float(val[1].split(",")[1]) < 60
    assert val[0] == "step,psnr,ssim,seconds,input_psnr"
    with Image.open(out / "plot.png") as plot:
        assert plot.size == (640, 420) and len(plot.convert("RGB").getcolors(1 << 24) or []) > 3
    assert 20.0 < float(val[1].split(",")[4]) < 21.0  # sigma 25 noise: 20.17 dB before clipping to [0, 1]
    assert "finished: step 4" in capsys.readouterr().out


def test_cli_reports_config_errors_as_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('name = "x"\n[model]\narch = "nope"\n[data]\ntrain = ["x"]\n')
    assert clarity(["train", "--config", str(cfg)]) == 2
    assert "module:callable" in capsys.readouterr().err
    assert clarity(["train", "--config", str(cfg), "--threads", "0"]) == 2
    assert "--threads 0 must be >= 1" in capsys.readouterr().err
    assert clarity(["train"]) == 2
    assert "give --config" in capsys.readouterr().err


def test_upsampled_sr_input_validates_on_odd_sized_images(tmp_path: Path, arch_module: str) -> None:
    cfg_path = write_config(tmp_path, arch_module, steps=3)
    text = cfg_path.read_text().replace('[data]', 'input = "upsampled"\n[data]').replace('"awgn:0-50"', '"bicubic:2"')
    text = text.replace('degradation = "awgn:25"', 'degradation = "bicubic:3"')
    make_images(tmp_path / "val", 2, 23, seed=7)  # 23 is not a multiple of 3: the target is cropped to 21
    cfg = TrainConfig.from_toml_text(text)
    t = Trainer(cfg, tmp_path / "run", device="cpu", log=None)
    res = t.run()
    assert res.finished and res.best_psnr is not None and 15 < res.best_psnr < 60
    from engine.training.degradations import parse_degradation
    from engine.training.trainer import network_input

    awgn = parse_degradation("awgn:25")(torch.zeros(1, 1, 8, 8), torch.Generator().manual_seed(0))
    with pytest.raises(ClarityError, match="the degradation gives none; use a bicubic:S degradation"):
        network_input(cfg.model.spec, awgn)


def test_lr_input_sr_validation_baseline_is_bicubic(tmp_path: Path, arch_module: str) -> None:
    from engine.core.imresize import imresize_np
    from engine.training.metrics import psnr

    text = write_config(tmp_path, arch_module, steps=1).read_text()
    text = text.replace(f'arch = "{arch_module}:tiny"', 'arch = "plugins.upscale.model:upscale_net"')
    text = text.replace("args = { features = 4 }", "args = { blocks = 1, features = 4 }").replace("gray = true", "gray = false")
    text = text.replace('"awgn:0-50"', '"bicubic:2"').replace('degradation = "awgn:25"', 'degradation = "bicubic:2"')
    text = text.replace("every = 3", "every = 1").replace("limit = 2", "limit = 1")
    valdir = make_images(tmp_path / "val-rgb", 1, 20, seed=2, channels=3)
    text = text.replace(str(tmp_path / "val"), str(valdir))
    Trainer(TrainConfig.from_toml_text(text), tmp_path / "run", device="cpu", log=None).run()
    row = (tmp_path / "run" / "val.csv").read_text().splitlines()[1].split(",")
    hr = np.asarray(Image.open(next(valdir.glob("*.png"))), np.float64) / 255.0
    lr = np.round(np.clip(imresize_np(hr, 0.5), 0, 1) * 255.0) / 255.0  # the protocol's uint8 LR
    bicubic = np.clip(imresize_np(lr, 2.0), 0, 1)
    assert float(row[4]) == pytest.approx(psnr(bicubic * 255.0, hr * 255.0), abs=0.05)  # was NaN


def test_sigterm_stops_cleanly_with_checkpoint(tmp_path: Path, arch_module: str) -> None:
    import os
    import signal

    cfg = TrainConfig.from_toml(write_config(tmp_path, arch_module, steps=50, val=False))
    messages: list[str] = []

    def log(msg: str) -> None:
        messages.append(msg)
        if msg.startswith("[train] step 2 "):
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    res = Trainer(cfg, tmp_path / "run", device="cpu", log=log).run()
    assert res.stopped_by == "signal" and res.step == 2 and not res.finished
    assert json.loads((tmp_path / "run" / "last.json").read_text())["step"] == 2
    assert signal.getsignal(signal.SIGTERM) is before
    assert any("signal" in m for m in messages)


def test_training_modules_need_no_gui_skimage_or_matplotlib() -> None:
    """The GPU training machine has torch, numpy, safetensors and OpenCV only: importing must not pull more."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import engine.training.trainer, engine.training.distill, engine.training.export, engine.training.features\n"
        "import engine.cli.train_cmd, engine.cli.distill_cmd, engine.cli.export_cmd\n"
        "print(sorted(m for m in ('PySide6', 'skimage', 'matplotlib', 'PIL', 'scipy') if m in sys.modules))\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_init_starts_a_fine_tuning_run_from_exported_or_checkpoint_weights(tmp_path: Path, arch_module: str) -> None:
    """--init loads the weights (a checkpoint's EMA copy first), then starts at step 0 with a fresh warm-up."""
    from safetensors.torch import save_file

    cfg = TrainConfig.from_toml(write_config(tmp_path, arch_module, steps=3, val=False))
    first = Trainer(cfg, tmp_path / "a", device="cpu", log=None).run()
    ema = {k[len("ema."):]: v for k, v in load_file(str(first.last_checkpoint)).items() if k.startswith("ema.")}
    t = Trainer(cfg, tmp_path / "b", device="cpu", init=first.last_checkpoint, log=None)
    assert t.step == 0
    for k, v in t.net.state_dict().items():
        assert torch.equal(v, ema[k]), k
    exported = tmp_path / "w.safetensors"
    save_file({k: v.half() for k, v in ema.items()}, str(exported))
    t2 = Trainer(cfg, tmp_path / "c", device="cpu", init=exported, log=None)
    for k, v in t2.net.state_dict().items():
        assert torch.equal(v, ema[k].half().float()), k
    res = t2.run()
    lrs = [float(line.split(",")[2]) for line in (tmp_path / "c" / "train.csv").read_text().splitlines()[1:]]
    assert res.step == 3 and lrs[0] == pytest.approx(0.005)  # warm-up again from the start
    with pytest.raises(ClarityError, match="give one of them"):
        Trainer(cfg, tmp_path / "d", device="cpu", init=exported, resume=first.last_checkpoint, log=None)


def test_init_rejects_weights_of_another_architecture(tmp_path: Path, arch_module: str, capsys: pytest.CaptureFixture[str]) -> None:
    from safetensors.torch import save_file

    cfg_path = write_config(tmp_path, arch_module, steps=2, val=False)
    wrong = tmp_path / "wrong.safetensors"
    save_file({"head.weight": torch.zeros(8, 1, 3, 3)}, str(wrong))
    rc = clarity(["train", "--config", str(cfg_path), "--out", str(tmp_path / "run"), "--init", str(wrong), "--device", "cpu", "--quiet"])
    assert rc != 0
    err = capsys.readouterr().err
    assert "do not fit model.arch" in err and "Traceback" not in err
    rc = clarity(["train", "--config", str(cfg_path), "--out", str(tmp_path / "run2"), "--init", str(tmp_path / "none.safetensors"), "--device", "cpu", "--quiet"])
    assert rc != 0 and "does not exist" in capsys.readouterr().err


def _bn_output_variance(net: torch.nn.Module, x: torch.Tensor) -> float:
    """Mean per-channel variance of ``net.bn``'s eval-mode output on ``x``."""
    seen: list[torch.Tensor] = []
    hook = net.bn.register_forward_hook(lambda _m, _i, out: seen.append(out))
    net.eval()
    with torch.no_grad():
        net(x)
    hook.remove()
    return float(seen[0].var(dim=(0, 2, 3)).mean())


def test_averaged_weights_of_a_batchnorm_net_get_their_own_running_statistics(tmp_path: Path, arch_module: str) -> None:
    text = write_config(tmp_path, arch_module, steps=4).read_text().replace(f"{arch_module}:tiny", f"{arch_module}:tiny_bn")
    cfg = TrainConfig.from_toml_text(text)
    first = Trainer(cfg, tmp_path / "run", device="cpu", log=None).run()
    trainer = Trainer(cfg, tmp_path / "run", device="cpu", resume=first.last_checkpoint, log=None)
    assert trainer.ema is not None
    generator = torch.Generator().manual_seed(5)
    batches = [trainer.degradations[0](trainer.sampler.next(), generator).degraded for _ in range(9)]
    x = batches.pop()
    torch.optim.swa_utils.update_bn(batches, trainer.net)  # live statistics that fit the live weights
    assert 0.5 < _bn_output_variance(trainer.net, x) < 1.6
    for key, value in trainer.net.state_dict().items():  # "averaged" = the live weights, the first layer x3
        trainer.ema.shadow[key].copy_(value * 3.0 if key.startswith("head.") else value)
    plain = type(trainer.net)(1, 4)
    plain.load_state_dict(trainer.ema.state_dict())  # the EMA as kept: averaged weights, copied statistics
    assert _bn_output_variance(plain, x) > 4.0  # ~9: the statistics belong to other weights
    assert 0.5 < _bn_output_variance(trainer.eval_network(), x) < 1.6  # normalised again
    saved = load_file(str(trainer.save("last")))
    assert torch.equal(saved["ema.bn.running_var"], trainer.averaged_state()["bn.running_var"])


def test_autocast_dtype_per_amp_setting_and_device() -> None:
    from engine.training.trainer import autocast_dtype
    from plugins.spec import NetworkSpec

    cpu, cuda, mps = torch.device("cpu"), torch.device("cuda"), torch.device("mps")
    no_bf16 = NetworkSpec(bf16=False)
    assert [autocast_dtype(a, cpu) for a in ("auto", "bf16", "fp16", "none")] == [None, torch.bfloat16, None, None]
    assert [autocast_dtype(a, cuda) for a in ("auto", "bf16", "fp16", "none")] == [torch.bfloat16, torch.bfloat16, torch.float16, None]
    assert autocast_dtype("auto", cuda, no_bf16) is None and autocast_dtype("bf16", mps) is None


def test_cpu_bf16_trains_in_bf16_and_validates_in_fp32(tmp_path: Path, arch_module: str) -> None:
    """amp = "bf16" on the CPU: the training forward runs in bf16 (channels_last), validation in fp32."""
    cfg = TrainConfig.from_toml_text(write_config(tmp_path, arch_module, steps=3).read_text().replace(
        "log_every = 1", 'log_every = 1\namp = "bf16"'))
    trainer = Trainer(cfg, tmp_path / "run", device="cpu", log=None)
    assert trainer.amp_dtype is torch.bfloat16 and trainer.eval_amp_dtype is None and trainer.channels_last
    seen: list[tuple[bool, torch.dtype]] = []
    hook = torch.nn.modules.module.register_module_forward_hook(
        lambda m, i, o: seen.append((m.training, o.dtype)) if isinstance(m, torch.nn.Conv2d) else None)
    try:
        res = trainer.run()
    finally:
        hook.remove()
    assert res.step == 3 and (True, torch.bfloat16) in seen and (False, torch.float32) in seen
    assert {dt for training, dt in seen if not training} == {torch.float32}
    fp32 = TrainConfig.from_toml(write_config(tmp_path / "b", arch_module, steps=3))
    assert fp32.run.amp == "auto" and Trainer(fp32, tmp_path / "run32", device="cpu", log=None).amp_dtype is None



def test_rescale_trains_on_the_originals_and_their_downscaled_copies(tmp_path: Path, arch_module: str) -> None:
    path = write_config(tmp_path, arch_module, steps=2, val=False)
    path.write_text(path.read_text().replace('degradation = ["awgn:0-50"]', 'degradation = ["awgn:0-50"]\nrescale = [1.0, 0.75]'))
    trainer = Trainer(TrainConfig.from_toml(path), tmp_path / "run", device="cpu", log=None)
    assert [tuple(im.shape) for im in trainer.images] == [(1, 24, 24)] * 4 + [(1, 18, 18)] * 4
    assert trainer.run().finished
