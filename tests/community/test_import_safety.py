"""Model files are read without running code; every user error is one line; the torchvision stand-in."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from engine.cli.main import main
from plugins.community.model_file import ModelFileError, file_kind, read_state_dict
from plugins.community.spandrel_compat import import_spandrel
from tests.community.tiny_models import tiny_state_dict

REPO = Path(__file__).resolve().parents[2]


class _Payload:
    """Unpickling this creates ``marker`` (if it were ever executed)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (str(self.marker), "w"))


def _cli_error(args: list[str], capsys) -> str:  # type: ignore[no-untyped-def]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 or (len(err) == 2 and err[0].startswith("inspecting")), err
    assert "Traceback" not in "\n".join(err)
    return err[-1]


@pytest.mark.parametrize("zipped", [True, False], ids=["torch-zip", "legacy-pickle"])
def test_reduce_payload_is_refused_without_running_it(tmp_path: Path, zipped: bool, capsys) -> None:
    marker = tmp_path / "payload-ran"
    evil = tmp_path / "evil.pth"
    torch.save({"params": {"conv.weight": torch.zeros(1)}, "x": _Payload(marker)}, evil,
               _use_new_zipfile_serialization=zipped)  # fmt: skip
    with pytest.raises(ModelFileError, match="refused: the file asks to run Python code"):
        read_state_dict(evil)
    line = _cli_error(["plugin", "import", str(evil), "--dir", str(tmp_path / "u")], capsys)
    assert line.startswith("clarity: error: evil.pth: refused") and "not executed" in line
    assert not marker.exists()
    assert not (tmp_path / "u").exists() or not any((tmp_path / "u").iterdir())


def test_torchscript_is_refused(tmp_path: Path, capsys) -> None:
    path = tmp_path / "model.pt"
    torch.jit.script(torch.nn.Conv2d(3, 3, 3)).save(str(path))
    assert file_kind(path) == "torchscript"
    line = _cli_error(["plugin", "import", str(path)], capsys)
    assert line == (
        "clarity: error: model.pt: is a TorchScript archive, which runs code when loaded; refused. "
        "Export the model's state dict (.pth or .safetensors) instead"
    )


def test_plain_state_dict_in_pt_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save(tiny_state_dict("Compact"), path)
    assert file_kind(path) == "torch-zip"
    assert sorted(read_state_dict(path)) == sorted(tiny_state_dict("Compact"))


def test_corrupted_truncated_unsupported_and_missing_files(tmp_path: Path, capsys) -> None:
    good = tmp_path / "good.pth"
    torch.save(tiny_state_dict("Compact"), good)
    (tmp_path / "cut.pth").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (tmp_path / "text.pth").write_text("not a model at all")
    st = tmp_path / "good.safetensors"
    save_file(tiny_state_dict("Compact"), str(st))
    (tmp_path / "cut.safetensors").write_bytes(st.read_bytes()[:-100])
    torch.save({"alpha": torch.zeros(3), "beta": torch.ones(2, 2)}, tmp_path / "other.pth")

    assert "cut.pth: corrupted or truncated model file" in _cli_error(["plugin", "import", str(tmp_path / "cut.pth")], capsys)
    assert "text.pth: not a model file" in _cli_error(["plugin", "import", str(tmp_path / "text.pth")], capsys)
    assert "cut.safetensors: corrupted or truncated safetensors file" in _cli_error(
        ["plugin", "import", str(tmp_path / "cut.safetensors")], capsys
    )
    line = _cli_error(["plugin", "import", str(tmp_path / "other.pth")], capsys)
    assert "other.pth: unsupported architecture: spandrel recognises none of its 2 tensors" in line
    assert "no such file" in _cli_error(["plugin", "import", str(tmp_path / "absent.pth")], capsys)


def test_existing_id_is_refused_before_inspecting(tmp_path: Path, capsys) -> None:
    path = tmp_path / "denoise.pth"
    torch.save(tiny_state_dict("DnCNN"), path)
    line = _cli_error(["plugin", "import", str(path)], capsys)  # "denoise" is a built-in plugin id
    assert line.startswith("clarity: error: plugin 'denoise': a plugin with this id already exists (")
    assert line.endswith("); choose another with --id")


def test_non_commercial_extra_architecture_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    spandrel = import_spandrel()

    class FakeArch:  # what spandrel_extra_arches would register
        name = "CodeFormer"

        def detect(self, state_dict) -> bool:  # type: ignore[no-untyped-def]
            return "alpha" in state_dict

    FakeArch.__module__ = "spandrel_extra_arches.architectures.CodeFormer"

    class FakeSupport:
        architecture = FakeArch()

    monkeypatch.setattr(spandrel, "MAIN_REGISTRY", [*spandrel.MAIN_REGISTRY, FakeSupport()])
    path = tmp_path / "codeformer.pth"
    torch.save({"alpha": torch.zeros(3)}, path)
    line = _cli_error(["plugin", "import", str(path)], capsys)
    assert line == (
        "clarity: error: codeformer.pth: architecture CodeFormer comes from spandrel_extra_arches, "
        "whose licences are non-commercial; it cannot be imported"
    )


def test_remove_only_imported_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    user = tmp_path / "user"
    monkeypatch.setenv("CLARITY_PLUGIN_PATH", str(user))
    path = tmp_path / "tiny.safetensors"
    save_file(tiny_state_dict("DnCNN"), str(path))
    assert main(["plugin", "import", str(path)]) == 0
    assert (user / "tiny").is_dir()
    assert main(["plugin", "remove", "tiny"]) == 0
    assert not (user / "tiny").exists() and path.is_file()  # the original file is untouched
    assert main(["plugin", "new", "Handmade"]) == 0
    capsys.readouterr()
    line = _cli_error(["plugin", "remove", "handmade"], capsys)
    assert "was not created by `clarity plugin import`" in line
    assert (user / "handmade").is_dir()


def _run_python(code: str, extra_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(extra_path), str(REPO)]))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=240)


PROBE = """
    import sys
    from plugins.community import spandrel_compat
    spandrel = spandrel_compat.import_spandrel()
    print(len(list(spandrel.MAIN_REGISTRY)), spandrel_compat.used_standin, "torchvision" in sys.modules)
    from spandrel.architectures.RestoreFormer import tv_normalize
    print(tv_normalize.__module__)
"""


@pytest.mark.slow
def test_broken_torchvision_gets_a_standin_only_while_spandrel_imports(tmp_path: Path) -> None:
    fake = tmp_path / "torchvision"
    fake.mkdir()
    (fake / "__init__.py").write_text('raise RuntimeError("operator torchvision::nms does not exist")\n')
    result = _run_python(PROBE, tmp_path)
    assert result.returncode == 0, result.stderr
    count, standin, left = result.stdout.split()[:3]
    assert int(count) >= 40 and standin == "True" and left == "False"
    assert result.stdout.split()[3] == "plugins.community.spandrel_compat"


@pytest.mark.slow
def test_working_torchvision_is_used(tmp_path: Path) -> None:
    fake = tmp_path / "torchvision"
    (fake / "transforms").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "transforms" / "__init__.py").write_text("")
    (fake / "transforms" / "functional.py").write_text(
        "import enum\nclass InterpolationMode(enum.Enum):\n    NEAREST = 'nearest'\n"
        "def rotate(*a, **k): pass\ndef normalize(*a, **k): pass\n"
    )
    result = _run_python(PROBE, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1:4] == ["False", "True", "torchvision.transforms.functional"]


def test_standin_normalize_matches_the_formula() -> None:
    from plugins.community.spandrel_compat import _normalize

    x = torch.arange(12, dtype=torch.float32).view(3, 2, 2)
    out = _normalize(x, [1.0, 2.0, 3.0], [2.0, 4.0, 8.0])
    expected = (x - torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1)) / torch.tensor([2.0, 4.0, 8.0]).view(3, 1, 1)
    assert torch.equal(out, expected) and torch.equal(x, torch.arange(12, dtype=torch.float32).view(3, 2, 2))
