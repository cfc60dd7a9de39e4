"""Execute a tutorial notebook with nbclient, and find what it left running.

Used in-process by the tests and as a script by the Binder test, which runs it
with the Binder virtualenv's python (``python nbrun.py NOTEBOOK``) so the
notebook's kernel runs in that environment.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
CELL_TIMEOUT_S = 120
#: a cell that demonstrates an error: Jupyter's own tag, which Run All, nbclient and
#: papermill honour (every other failing cell stops the run)
ERROR_OK_TAG = "raises-exception"


def notebook_paths() -> list[Path]:
    """The tutorials, in reading order."""
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]-*.ipynb"))


def kernel_env(easlab_home: Path, tested_code: bool = True) -> dict[str, str]:
    """The notebook kernel's environment: a private EASLAB_HOME, no inherited kernel
    endpoint, and (``tested_code``) the easlab this test process imported on its path.

    The venv's easlab is an editable install of one checkout: without the path, a test
    run from another checkout (a git worktree, ``PYTHONPATH=$PWD``) ran the tutorials
    against that other checkout's code. The Binder script (``main``) leaves it out: its
    venv's own install is what it checks."""
    env = dict(os.environ)
    env["EASLAB_HOME"] = str(easlab_home)
    env.pop("EASLAB_ENDPOINT", None)
    env.pop("PYTHONPATH", None)
    if tested_code:
        import easlab

        env["PYTHONPATH"] = str(Path(easlab.__file__).resolve().parents[1])
    return env


def execute(
    path: Path,
    easlab_home: Path,
    cwd: Path | None = None,
    timeout: int = CELL_TIMEOUT_S,
    kernel_name: str = "python3",
    on_cell_executed: Any = None,
    tested_code: bool = True,
) -> Any:
    """Run every cell of ``path`` (cwd: the notebook's folder); return the executed notebook.

    Raises ``nbclient.exceptions.CellExecutionError`` (with the cell and its
    traceback) on the first failing cell.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(cwd or path.parent)}},
        on_cell_executed=on_cell_executed,
    )
    client.execute(env=kernel_env(easlab_home, tested_code))
    return nb


def output_text(output: Any) -> str:
    """The plain text of one cell output (stream text, an error, or a display's text/plain)."""
    if output.get("output_type") == "stream":
        return str(output.get("text", ""))
    if output.get("output_type") == "error":
        return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(output.get("traceback", [])))
    data = output.get("data", {})
    return str(data.get("text/plain", ""))


def easlab_error_lines(nb: Any) -> list[str]:
    """``easlab error: ...`` lines shown by cells not tagged as demonstrating an error.

    A failing magic raises (one red line, no traceback), so nbclient stops there;
    this also catches error lines a cell printed without failing.
    """
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or ERROR_OK_TAG in cell.metadata.get("tags", []):
            continue
        for output in cell.get("outputs", []):
            for line in output_text(output).splitlines():
                if line.startswith("easlab error:"):
                    first = cell.source.splitlines()[0] if cell.source else ""
                    found.append(f"cell {index} ({first}): {line}")
    return found


def leftover_services(easlab_home: Path) -> dict[str, list[str]]:
    """``{kernel endpoint: [service names]}`` for every live kernel recorded in ``easlab_home``.

    Tutorials share the one serving kernel of the environment and delete only what
    they made: after one, its kernel is still listed (visible to ``easlab kernel
    status``) and holds no service of theirs.
    """
    import json

    from easlab.client.control import KernelClient
    from easlab.runtime import pid_alive

    found: dict[str, list[str]] = {}
    for path in sorted((easlab_home / "runtime").glob("kernel-*.json")):
        data = json.loads(path.read_text())
        if not pid_alive(int(data["pid"])):
            continue
        client = KernelClient(data["endpoint"], timeout=10, admin_token=data["admin_token"])
        found[data["endpoint"]] = [svc["name"] for svc in client.list()]
    return found


def live_tokens(easlab_home: Path) -> set[str]:
    """The secrets a notebook could leak now: each live kernel's admin token and the
    token of every service it holds (services come and go within a tutorial, so the
    tests collect these after each cell)."""
    import json

    from easlab.client.control import KernelClient
    from easlab.runtime import pid_alive

    tokens: set[str] = set()
    for path in sorted((easlab_home / "runtime").glob("kernel-*.json")):
        data = json.loads(path.read_text())
        if not pid_alive(int(data["pid"])):
            continue
        tokens.add(data["admin_token"])
        client = KernelClient(data["endpoint"], timeout=10, admin_token=data["admin_token"])
        tokens |= {svc["token"] for svc in client.list() if svc.get("token")}
    return tokens


def easlab_processes(easlab_home: Path) -> list[int]:
    """Pids of processes (kernels, instances) running with ``EASLAB_HOME=easlab_home``."""
    marker = f"EASLAB_HOME={easlab_home}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if marker in environ.split(b"\0"):
            pids.append(int(entry.name))
    return sorted(pids)


def stop_processes(pids: list[int], timeout: float = 10.0) -> None:
    """SIGTERM the given pids, then SIGKILL those still alive after ``timeout``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = [pid for pid in pids if _alive(pid)]
            if not pids:
                return
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"  # a zombie has exited
    except OSError:
        return False


def _pin_python3_kernel(folder: Path) -> None:
    """Make kernel ``python3`` this interpreter, whatever kernelspecs the user has installed.

    JUPYTER_PATH is searched first, so a ``python3`` spec there wins over one in
    ``~/.local/share/jupyter`` that may point at another Python.
    """
    import json

    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "Python 3", "language": "python"})
    )
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [str(folder), *filter(None, [os.environ.get("JUPYTER_PATH")])]
    )


def main(argv: list[str]) -> int:
    """``python nbrun.py NOTEBOOK EASLAB_HOME``: execute it, print problems, exit 1 on any."""
    if len(argv) != 2:
        print("usage: python nbrun.py NOTEBOOK EASLAB_HOME", file=sys.stderr)
        return 2
    path, home = Path(argv[0]).resolve(), Path(argv[1]).resolve()
    _pin_python3_kernel(home / "kernelspec")
    nb = execute(path, home, tested_code=False)
    problems = easlab_error_lines(nb)
    for line in problems:
        print(line)
    print(f"executed {path.name}: {len(nb.cells)} cells, {len(problems)} easlab error line(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
