"""A built-in code naming a framework version the local runtime is not
(``pytorch_cpu_1.0``, ``tensorflow_cpu_9.9``) is served by the local runtime, and the
create's answer, the service's log and the dry run say so."""

from __future__ import annotations

import json

import pytest

from easlab.cli import main
from easlab.kernel.processors import runtime_versions, version_warning

HERE = {"torch": "2.13.0+cpu", "tensorflow": "2.21.0"}


@pytest.mark.parametrize(
    ("code", "named"),
    [
        ("pytorch_cpu_1.0", "PyTorch 1.0, but the local kernel serves it with torch 2.13.0+cpu"),
        ("pytorch_gpu_1.6", "PyTorch 1.6, but the local kernel serves it with torch 2.13.0+cpu"),
        (
            "tensorflow_cpu_9.9",
            "TensorFlow 9.9, but the local kernel serves it with tensorflow 2.21.0",
        ),
        ("tensorflow_gpu_1.15", "TensorFlow 1.15, but the local kernel serves it with tensorflow"),
        ("pytorch_cpu_2.12", "PyTorch 2.12, but"),
    ],
)
def test_a_code_naming_another_version_is_warned(code, named):
    warning = version_warning(code, HERE)
    assert warning.startswith(f"processor {code!r} names {named}"), warning
    assert "Check it with" in warning


@pytest.mark.parametrize(
    "code",
    [
        "pytorch_cpu_2.13",  # the local version (the local build tag +cpu aside)
        "pytorch_cpu_2",
        "tensorflow_cpu_2.21",
        "pytorch_cpu_latest",  # no version to compare
        "onnx",
        "pmml",
        "blade_cpu",
    ],
)
def test_a_code_the_local_runtime_matches_or_naming_no_version_is_not(code):
    assert version_warning(code, HERE) == ""


def test_a_framework_not_installed_is_not_warned_about():
    assert version_warning("pytorch_cpu_1.0", {}) == ""  # check_runtime says it is missing


def test_the_versions_are_this_pythons():
    torch = pytest.importorskip("torch")
    assert runtime_versions()["torch"] == torch.__version__


# torch 2.x deprecates torch.jit.script/save; EAS models are TorchScript all the same.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_create_answer_log_and_dry_run_name_the_local_version(kernel, tmp_path, capsys):
    torch = pytest.importorskip("torch")

    class Double(torch.nn.Module):
        def forward(self, x: torch.Tensor):
            return x * 2

    torch.jit.save(torch.jit.script(Double()), str(tmp_path / "model.pt"))
    spec = {
        "name": "old_torch",
        "processor": "pytorch_cpu_1.0",
        "model_path": str(tmp_path / "model.pt"),
        "metadata": {"instance": 1},
    }
    said = (
        f"processor 'pytorch_cpu_1.0' names PyTorch 1.0, but the local kernel serves it "
        f"with torch {torch.__version__}"
    )
    path = tmp_path / "old_torch.json"
    path.write_text(json.dumps(spec))
    assert main(["create", str(path), "--dry-run", "--endpoint", kernel.endpoint]) == 0
    out = capsys.readouterr().out
    assert f"warning: {said}" in out, out
    svc = kernel.create(spec, wait=False)
    try:
        assert any(w.startswith(said) for w in svc.desc["warnings"]), svc.desc["warnings"]
        log = "\n".join(kernel.client.logs("old_torch", 0))
        assert f"warning: {said}" in log, log
    finally:
        kernel.delete("old_torch")
    # the version the local runtime is: no warning
    same = {**spec, "name": "same_torch", "processor": "pytorch_cpu_" + torch.__version__[:4]}
    path.write_text(json.dumps(same))
    assert main(["create", str(path), "--dry-run", "--endpoint", kernel.endpoint]) == 0
    assert "names PyTorch" not in capsys.readouterr().out
