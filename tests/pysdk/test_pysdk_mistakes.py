"""The mistakes a new user makes in the pysdk loop, each answered with what was wrong
and how to fix it, the kernel serving on: an app.py written as a script, a class that
is not a processor, a dependency missing from ENV, a package without its entry file,
a model folder linked in from elsewhere.

Real kernels on 127.0.0.1 (port 0, a private EASLAB_HOME); real ``pysdk init`` ENVs
(without pip).
"""

from __future__ import annotations

import socket
import tarfile
import textwrap
from pathlib import Path

import pytest
import requests

from easlab.cli import main
from easlab.errors import SpecError
from easlab.pysdk.init import init_project
from easlab.pysdk.pack import pack_project
from tests.ports import free_port

TOKEN = "tok-" + "p" * 8


@pytest.fixture(scope="module")
def env_project(tmp_path_factory) -> Path:
    """One ``pysdk init`` project, copied by each test that writes its own app.py."""
    folder = tmp_path_factory.mktemp("mistakes") / "base"
    init_project(folder, with_pip=False)
    return folder


def _project(env_project: Path, tmp_path: Path, app: str) -> Path:
    import shutil

    folder = tmp_path / "proj"
    shutil.copytree(env_project, folder, symlinks=True)
    (folder / "app.py").write_text(textwrap.dedent(app))
    return folder


def _create(kernel, name: str, path: Path, **metadata):
    spec = {
        "name": name,
        "processor_type": "python",
        "processor_entry": "./app.py",
        "processor_path": str(path),
        "metadata": {"instance": 1, **metadata},
        "token": TOKEN,
    }
    return kernel.create(spec)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_an_app_that_calls_run_when_imported_is_served_by_the_kernel(kernel, env_project, tmp_path):
    # was: the instance ran the SDK's own HTTP server (0.0.0.0:8080 by default) inside
    # the kernel and never finished starting, until metadata.startup_timeout killed it
    port = free_port()
    folder = _project(
        env_project,
        tmp_path,
        f"""
        import allspark

        class Echo(allspark.BaseProcessor):
            def initialize(self):
                self.prefix = b"echo:" + str(self.worker_threads).encode() + b":"

            def process(self, data):
                return self.prefix + data, 200

        runner = Echo(worker_threads=3, endpoint="127.0.0.1:{port}")
        runner.run()
        """,
    )
    archive, _ = pack_project(folder)
    for name, path in (("script_dir", folder), ("script_tar", archive)):
        svc = _create(kernel, name, path, startup_timeout=30)
        try:
            assert svc.desc["status"] == "Running", svc.desc.get("message")
            answer = requests.post(
                svc.url, data=b"hi", headers={"Authorization": TOKEN}, timeout=30
            )
            # the app's own processor, built with its own arguments
            assert (answer.status_code, answer.text) == (200, "echo:3:hi")
            assert not _listening(port)
        finally:
            kernel.delete(name)


def test_a_class_that_does_not_derive_from_base_processor_is_named(kernel, env_project, tmp_path):
    # was: "initialize() failed with ProcessorError: ... defines no subclass", though
    # initialize() never ran: what failed was finding the class
    folder = _project(
        env_project,
        tmp_path,
        """
        import allspark

        class MyProcessor:
            def process(self, data):
                return data, 200
        """,
    )
    svc = _create(kernel, "no_base", folder)
    try:
        message = svc.desc.get("message") or ""
        assert svc.desc["status"] == "Failed"
        assert "finding the processor class in app.py failed" in message
        assert "initialize() failed" not in message
        assert "its class MyProcessor does not derive from it" in message
        assert "`class MyProcessor(allspark.BaseProcessor):`" in message
    finally:
        kernel.delete("no_base")
    assert isinstance(kernel.services(), list)  # the kernel still serves


def test_a_dependency_missing_from_env_says_where_to_install_it(kernel, env_project, tmp_path):
    # was: "No module named 'cv2'" alone, while `pip install` had put it in the
    # user's own Python, not in the package's ENV that the instance runs
    folder = _project(
        env_project,
        tmp_path,
        """
        import allspark
        import cv2

        class P(allspark.BaseProcessor):
            def process(self, data):
                return data, 200
        """,
    )
    archive, _ = pack_project(folder)
    for name, path in (("nodep_dir", folder), ("nodep_tar", archive)):
        svc = _create(kernel, name, path)
        try:
            message = svc.desc.get("message") or ""
            assert svc.desc["status"] == "Failed"
            assert f'File "{folder / "app.py"}", line 3' in message
            # the user's own ENV (not the kernel's cached copy of the archive), and
            # the pip name of the manual's FAQ
            install = f"`{folder / 'ENV'}/bin/python -m pip install opencv-python-headless`"
            assert "No module named 'cv2'; the instance runs the package's ENV" in message
            assert install in message
        finally:
            kernel.delete(name)


def test_pack_refuses_a_project_without_the_entry_its_app_json_names(env_project, tmp_path, capsys):
    # was: a package without app.py, packed and uploaded; the create failed later
    folder = _project(env_project, tmp_path, "import allspark\n")
    (folder / "app.py").rename(folder / "service.py")
    assert main(["pysdk", "pack", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"{folder} has no ./app.py (processor_entry in {folder / 'app.json'}" in err
    assert "set processor_entry in app.json" in err
    assert not (tmp_path / "proj.tar.gz").exists()
    spec = (folder / "app.json").read_text().replace("./app.py", "./service.py")
    (folder / "app.json").write_text(spec)
    assert main(["pysdk", "pack", str(folder)]) == 0


def test_pack_holds_a_model_folder_linked_in_from_elsewhere(env_project, tmp_path):
    # was: "links to /data/..., outside ...: recreate ENV with `easlab pysdk init`",
    # for a model folder that has nothing to do with ENV
    models = tmp_path / "data" / "resnet"
    models.mkdir(parents=True)
    (models / "weights.bin").write_bytes(b"w" * 10)
    folder = _project(env_project, tmp_path, "import allspark\n")
    (folder / "model").symlink_to(models, target_is_directory=True)
    (folder / "local").symlink_to("model", target_is_directory=True)  # inside: a link
    archive, _ = pack_project(folder)
    with tarfile.open(archive) as tar:
        assert tar.getmember("model").isdir()
        assert tar.extractfile("model/weights.bin").read() == b"w" * 10  # type: ignore[union-attr]
        assert tar.getmember("local").issym() and tar.getmember("local").linkname == "model"
    (folder / "up").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ValueError, match="a folder that holds the project itself"):
        pack_project(folder)


@pytest.mark.parametrize(
    ("script", "said"),
    [
        # a pyenv shim of a version the shell has not selected
        ("echo 'pyenv: python3.9: command not found' >&2; exit 127", "does not run (pyenv: "),
        ("echo 3.9.18", "is Python 3.9.18; the local kernel runs a package's ENV"),
    ],
)
def test_init_refuses_a_python_that_cannot_run_the_env_and_writes_nothing(
    tmp_path, capsys, script, said
):
    # was: a RuntimeError traceback (and an empty folder left) for the shim; for 3.9, an
    # ENV made, then refused by `pysdk pack` and `create` as too old
    python = tmp_path / "python3.9"
    python.write_text(f"#!/bin/sh\n{script}\n")
    python.chmod(0o755)
    folder = tmp_path / "demo"
    args = ["pysdk", "init", str(folder), "--python", str(python), "--without-pip"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"easlab pysdk: --python {python}: {python} ") and said in err
    assert "Traceback" not in err and not folder.exists()


def test_init_force_keeps_an_env_and_the_packages_installed_in_it(tmp_path, capsys):
    # was: `venv --clear` emptied ENV (the user's pip installs gone) while init said
    # "--force writes only what is missing"
    from easlab.pysdk.init import site_packages

    folder = tmp_path / "demo"
    init_project(folder, with_pip=False)
    installed = site_packages(folder / "ENV") / "my_dependency.py"
    installed.write_text("ANSWER = 42\n")
    args = ["pysdk", "init", str(folder), "--force", "--without-pip"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"Kept your {folder / 'ENV'} and the packages installed in it" in out
    assert installed.read_text() == "ANSWER = 42\n"
    # another Python asked for: refused, ENV as it was
    other = "3.10" if (folder / "ENV" / "lib" / "python3.11").exists() else "3.11"
    assert main([*args, "--python", other]) == 2
    err = capsys.readouterr().err
    assert "exists with Python" in err and f"remove it first (`rm -rf {folder / 'ENV'}`)" in err
    assert installed.exists()


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (
            "def predict(self, data):\n        return data, 200",
            "has no process(self, data); it defines predict: every request calls",
        ),
        (
            "def process(self):\n        return b'x', 200",
            "line 5: process() cannot take the request body: write `def process(self, data):`",
        ),
    ],
)
def test_a_process_no_request_could_call_fails_the_start(kernel, env_project, tmp_path, body, said):
    # was: Running, then every request a 400 (NotImplementedError from the SDK's
    # process, or "process() takes 1 positional argument but 2 were given")
    folder = _project(
        env_project,
        tmp_path,
        f"import allspark\n\n\nclass MyProcessor(allspark.BaseProcessor):\n    {body}\n",
    )
    svc = _create(kernel, "bad_process", folder)
    try:
        message = svc.desc.get("message") or ""
        assert svc.desc["status"] == "Failed"
        assert message.startswith("checking MyProcessor.process failed with ProcessorError: ")
        assert f"MyProcessor ({folder / 'app.py'})" in message and said in message
    finally:
        kernel.delete("bad_process")


def test_a_process_that_exits_is_logged_with_the_apps_line(kernel, env_project, tmp_path):
    # was: the log's traceback held easlab's frames only (worker.py, python.py)
    folder = _project(
        env_project,
        tmp_path,
        """
        import sys
        import allspark

        class P(allspark.BaseProcessor):
            def process(self, data):
                sys.exit(3)
        """,
    )
    svc = _create(kernel, "exits", folder)
    try:
        answer = requests.post(svc.url, data=b"x", headers={"Authorization": TOKEN}, timeout=30)
        assert answer.status_code == 400 and "raised SystemExit(3)" in answer.text

        def logged() -> str:
            return "\n".join(kernel.client.logs("exits", 0))

        from tests.kernel.kernel_helpers import wait_for

        wait_for(lambda: "RuntimeError: process() raised" in logged(), what="the log")
        assert f'File "{folder / "app.py"}", line 7, in process' in logged()
    finally:
        kernel.delete("exits")


APP_WITH_ITS_OWN_THREADS = """
    import threading

    import allspark

    class MyProcessor(allspark.BaseProcessor):
        def initialize(self):
            # every request waits inside process() until 8 are there at once
            self.together = threading.Barrier(8, timeout=30)

        def process(self, data):
            if data == b"threads":
                return str(self.worker_threads).encode(), 200
            try:
                self.together.wait()
            except threading.BrokenBarrierError:
                return b"fewer than 8 at once", 500
            return b"8 at once", 200

    if __name__ == "__main__":
        # worker_threads: how many requests are processed concurrently
        runner = MyProcessor(worker_threads=8)
        runner.run()
"""


def test_the_apps_own_worker_threads_are_the_services_as_on_eas(kernel, env_project, tmp_path):
    # EAS runs `python app.py`, so the constructor's worker_threads under the __main__
    # guard is how many requests the app processes at once (easlab init's template
    # passes 10). The kernel never runs that block: it ran 5 (rpc.worker_threads' default)
    from concurrent.futures import ThreadPoolExecutor

    folder = _project(env_project, tmp_path, APP_WITH_ITS_OWN_THREADS)
    svc = _create(kernel, "own_threads", folder)
    try:
        assert svc.desc["status"] == "Running", svc.desc.get("message")

        def call(body: bytes) -> tuple[int, str]:
            answer = requests.post(svc.url, data=body, headers={"Authorization": TOKEN}, timeout=60)
            return answer.status_code, answer.text

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(call, [b"x"] * 8)) == [(200, "8 at once")] * 8
        assert call(b"threads") == (200, "8")
        # a modify of another setting keeps the app's number; one of worker_threads sets it
        kernel.client.modify("own_threads", set={"metadata.rpc.keepalive": 20000})
        assert call(b"threads") == (200, "8")
        kernel.client.modify("own_threads", set={"metadata.rpc.worker_threads": 3})
        assert call(b"threads") == (200, "3")
        log = "\n".join(kernel.client.logs("own_threads", 0))
        assert "worker_threads 8, as app.py line 22 passes it" in log, log
    finally:
        kernel.delete("own_threads")
    # more than an instance runs is refused, naming the line
    many = _project(
        env_project,
        tmp_path / "many",
        "import allspark\nallspark.BaseProcessor(worker_threads=5000).run()\n",
    )
    with pytest.raises(
        SpecError,
        match=r"app.py line 2 asks for worker_threads=5000; an instance here runs at most 1024",
    ):
        _create(kernel, "many_threads", many)
    # metadata.rpc.worker_threads, written in the service's file, wins
    svc = _create(kernel, "spec_threads", folder, **{"rpc.worker_threads": 2})
    try:
        answer = requests.post(
            svc.url, data=b"threads", headers={"Authorization": TOKEN}, timeout=30
        )
        assert (answer.status_code, answer.text) == (200, "2")
    finally:
        kernel.delete("spec_threads")


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("P(worker_threads=10).run()", (10, 1)),
        ("if __name__ == '__main__':\n    r = P(worker_threads=7)\n    r.run()", (7, 2)),
        ("def make():\n    return P(worker_threads=9)", None),  # not the app's start
        ("class Q:\n    p = P(worker_threads=9)", None),
        ("N = 4\nP(worker_threads=N).run()", None),  # a literal only: nothing is run
        ("P(worker_threads=True).run()", None),
        ("P(worker_threads=0).run()", None),
        ("P(worker_threads=", None),  # the instance's start reports the syntax error
    ],
)
def test_the_apps_worker_threads_are_read_from_its_start_as_a_literal(tmp_path, source, found):
    from easlab.kernel.processors.python import app_worker_threads

    app = tmp_path / "app.py"
    app.write_text(source)
    assert app_worker_threads(app) == found


APP_WITH_PROCESSES = """\
import allspark


class MyProcessor(allspark.BaseProcessor):
    def initialize(self):
        self.pid = __import__("os").getpid()

    def process(self, data):
        return str(self.worker_processes).encode(), 200


if __name__ == "__main__":
    runner = MyProcessor(worker_threads=4, worker_processes=3)
    runner.run()
"""


def test_the_apps_worker_processes_are_said_not_run(kernel, env_project, tmp_path, capsys):
    # On EAS, worker_processes=3 starts 3 processes per instance, each running
    # initialize(); the kernel runs one per instance and said nothing of it
    folder = _project(env_project, tmp_path, APP_WITH_PROCESSES)
    said = (
        "app.py line 13 passes worker_processes=3: on PAI-EAS an instance then runs 3 "
        "processes, each calling initialize(); the local kernel runs one process per instance"
    )
    spec = tmp_path / "procs.json"
    spec.write_text(
        '{"name": "own_procs", "processor_type": "python", "processor_entry": "app.py", '
        f'"processor_path": "{folder}", "metadata": {{"instance": 1}}, "token": "{TOKEN}"}}'
    )
    assert main(["create", str(spec), "--dry-run", "--endpoint", kernel.endpoint]) == 0
    out = capsys.readouterr().out
    assert f"warning: {said}" in out, out
    assert "metadata.instance" in out.split(said, 1)[1].splitlines()[0]
    svc = _create(kernel, "own_procs", folder)
    try:
        assert svc.desc["status"] == "Running", svc.desc.get("message")
        assert [w for w in svc.desc["warnings"] if w.startswith(said)], svc.desc["warnings"]
        log = "\n".join(kernel.client.logs("own_procs", 0))
        assert f"warning: {said}" in log, log
        # what runs: one process, the worker_threads the app passes
        answer = requests.post(svc.url, data=b"x", headers={"Authorization": TOKEN}, timeout=30)
        assert (answer.status_code, answer.text) == (200, "1")
    finally:
        kernel.delete("own_procs")


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("P(worker_processes=4).run()", ("4", 1)),
        ("if __name__ == '__main__':\n    P(worker_threads=2, worker_processes=N).run()", ("N", 2)),
        ("P(worker_processes=1).run()", None),  # what the kernel runs
        ("P(worker_threads=10).run()", None),
        ("def make():\n    return P(worker_processes=9)", None),  # not the app's start
        ("P(worker_processes=", None),  # the instance's start reports the syntax error
    ],
)
def test_the_apps_worker_processes_are_read_from_its_start(tmp_path, source, found):
    from easlab.kernel.processors.python import app_worker_processes

    app = tmp_path / "app.py"
    app.write_text(source)
    assert app_worker_processes(app) == found
