"""A real kernel (port 0, private EASLAB_HOME) and an IPython shell with the extension loaded."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests import session_kernel

# the shared session fixtures (tests/session_kernel.py)
easlab_home = session_kernel.easlab_home
kernel = session_kernel.kernel
in_kernel_home = session_kernel.in_kernel_home

ECHO_APP = """\
import allspark


class Echo(allspark.BaseProcessor):
    def process(self, data):
        return b"echo:" + data, 200
"""

W = np.array([[1, 0], [0, 1], [1, 1], [2, -1]], np.float32)
B = np.array([0.5, -0.5], np.float32)


def affine_onnx() -> bytes:
    """y = x @ W + B with a symbolic batch dimension (input x: float32 [batch, 4])."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "B"], ["y"]),
        ],
        "affine",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        initializer=[numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


@pytest.fixture(scope="session")
def app_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("echo_app")
    (folder / "app.py").write_text(ECHO_APP)
    return folder


@pytest.fixture(scope="session")
def onnx_dir(tmp_path_factory) -> Path:
    pytest.importorskip("onnx")
    folder = tmp_path_factory.mktemp("onnx_model")
    (folder / "affine.onnx").write_bytes(affine_onnx())
    return folder


@pytest.fixture(scope="session")
def session_shell(kernel) -> Iterator[Any]:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "easlab")
    ip.run_line_magic("config", f"EasMagic.target = {kernel.endpoint!r}")
    yield ip
    ip.run_line_magic("unload_ext", "easlab")


def _aimed(ip: Any, kernel: Any) -> Any:
    ip.run_line_magic("load_ext", "easlab")
    ip.run_line_magic("config", f"EasMagic.target = {kernel.endpoint!r}")
    return ip


@pytest.fixture
def shell(session_shell, kernel) -> Any:
    """The process's one IPython shell, with easlab loaded and aimed at the test kernel.

    Set again for every test: a test that points the magic elsewhere (a dead port)
    or unloads the extension must not change what the next test talks to.
    """
    return _aimed(session_shell, kernel)


@pytest.fixture(scope="session")
def echo(session_shell, kernel, easlab_home, app_dir) -> Any:
    """A python echo service created through the magic (JSON cell, {var} substitution)."""
    shell = _aimed(session_shell, kernel)
    shell.user_ns["app_dir"] = str(app_dir)
    with session_kernel.home_set(easlab_home):  # made before the module's in_kernel_home
        shell.run_cell_magic(
            "eas",
            "create echo_svc",
            """
{
  "name": "nb_echo",
  "token": "echo-token-123456",
  "processor_type": "python",
  "processor_path": "{app_dir}",
  "processor_entry": "app.py",
  "metadata": {"instance": 1}
}
""",
        )
    return shell.user_ns["echo_svc"]


@pytest.fixture(scope="session")
def affine(session_shell, kernel, easlab_home, onnx_dir) -> Any:
    """An ONNX tensor service created through the magic (YAML cell, $var substitution)."""
    shell = _aimed(session_shell, kernel)
    shell.user_ns["onnx_dir"] = str(onnx_dir)
    with session_kernel.home_set(easlab_home):  # made before the module's in_kernel_home
        shell.run_cell_magic(
            "eas",
            "create affine_svc",
            """
name: nb_affine
token: affine-token-abcdef
processor: onnx
model_path: $onnx_dir
metadata:
  instance: 1
""",
        )
    return shell.user_ns["affine_svc"]


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def failing(shell: Any, capsys: Any, source: str) -> str:
    """Run ``source`` as a cell that must fail with one easlab error line; that line.

    The magic raises ``EasMagicError`` (so Run All stops there) and IPython
    shows it as one red line, without a traceback.
    """
    from easlab.notebook.magics import EasMagicError

    result = shell.run_cell(source)
    assert isinstance(result.error_in_exec, EasMagicError), repr(result.error_in_exec)
    out = capsys.readouterr()
    text = _ANSI.sub("", out.out + out.err).strip()
    assert "Traceback" not in text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    assert lines[0].startswith("easlab error: ")
    return lines[0]
