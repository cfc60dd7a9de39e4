"""A python processor whose package brings ``ENV/`` runs under that ENV's Python.

The package is made the manual's way (``pysdk init`` without pip, then ``pysdk
pack``); "installing" a dependency writes a small pure-Python module into ENV's
site-packages, exactly where ``ENV/bin/pip install`` would put it.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from kernel_helpers import post

from easlab.errors import EaslabError
from easlab.pysdk.init import init_project, site_packages
from easlab.pysdk.pack import pack_project

TOKEN = "tok-" + "x" * 8
APP = """
import sys
import allspark
import only_in_env  # installed into ENV alone


class App(allspark.BaseProcessor):
    def process(self, data):
        if data == b"python":
            return sys.executable.encode(), 200
        if data == b"easlab":
            import importlib.util
            return str(importlib.util.find_spec("numpy") is not None).encode(), 200
        return only_in_env.answer(data), 200
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("penv") / "envapp"
    init_project(folder, with_pip=False)
    (folder / "app.py").write_text(textwrap.dedent(APP))
    (site_packages(folder / "ENV") / "only_in_env.py").write_text(
        "def answer(data):\n    return b'env says ' + data\n"
    )
    archive, _ = pack_project(folder)
    return archive


def test_service_from_the_archive_runs_under_the_packages_env_python(kernel, package):
    assert importlib.util.find_spec("only_in_env") is None  # not in easlab's environment
    spec = {
        "name": "penv_app",
        "processor_type": "python",
        "processor_entry": "./app.py",
        "processor_path": str(package),
        "metadata": {"instance": 1},
        "token": TOKEN,
    }
    svc = kernel.create(spec)
    try:
        assert svc.desc["status"] == "Running", svc.desc.get("message")
        assert post(svc.url, b"hi", TOKEN).text == "env says hi"
        python = post(svc.url, b"python", TOKEN).text
        assert python != sys.executable and python.endswith("/ENV/bin/python")
        # easlab's own dependencies (numpy) are not visible to the processor
        assert post(svc.url, b"easlab", TOKEN).text == "False"
        assert svc.desc["python"].endswith("/ENV/bin/python")
        workers = kernel.client.workers("penv_app")
        assert workers[0]["python"] == svc.desc["python"]
    finally:
        kernel.delete("penv_app")


def test_a_package_whose_env_lacks_allspark_is_refused_at_create(kernel, tmp_path):
    folder = tmp_path / "noallspark"
    folder.mkdir()
    (folder / "app.py").write_text(textwrap.dedent(APP))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder / "ENV")], check=True)
    spec = {
        "name": "penv_broken",
        "processor_type": "python",
        "processor_entry": "./app.py",
        "processor_path": str(folder),
        "metadata": {"instance": 1},
    }
    try:
        svc = kernel.create(spec)
        message = str(svc.desc.get("message"))
        assert svc.desc["status"] == "Failed"
    except EaslabError as exc:
        message = str(exc)
    assert "cannot import allspark" in message and "ENV" in message


def test_without_env_the_kernel_python_runs_the_processor(python_service):
    svc = python_service(
        "penv_none",
        """
        import sys, allspark
        class App(allspark.BaseProcessor):
            def process(self, data):
                return sys.executable.encode(), 200
        """,
    )
    assert post(svc.url, b"x", TOKEN).text == sys.executable
    assert svc.desc["python"] is None


def test_the_app_json_template_deploys_the_packed_archive(kernel, package):
    app_json = package.parent / "envapp" / "app.json"
    svc = kernel.create(app_json)
    try:
        assert svc.desc["status"] == "Running", svc.desc.get("message")
        assert svc.desc["python"].endswith("/ENV/bin/python")
        assert post(svc.url, b"ok", svc.token).text == "env says ok"
    finally:
        kernel.delete("envapp")


def test_modify_with_the_same_archive_path_repacked_makes_a_new_version(kernel, tmp_path):
    folder = tmp_path / "repack"
    init_project(folder, with_pip=False)
    app = "import allspark\nclass App(allspark.BaseProcessor):\n    def process(self, d):\n"
    (folder / "app.py").write_text(app + "        return b'old', 200\n")
    archive, _ = pack_project(folder)
    spec = {
        "name": "penv_repack",
        "processor_type": "python",
        "processor_entry": "./app.py",
        "processor_path": str(archive),
        "metadata": {"instance": 1},
        "token": TOKEN,
    }
    svc = kernel.create(spec)
    try:
        assert post(svc.url, b"x", TOKEN).text == "old"
        assert kernel.client.modify("penv_repack", spec=spec)["current_version"] == 1
        (folder / "app.py").write_text(app + "        return b'new', 200\n")
        pack_project(folder)  # the same path, new bytes
        desc = kernel.client.modify("penv_repack", spec=spec)
        assert desc["current_version"] == 2 and desc["status"] == "Running"
        assert post(svc.url, b"x", TOKEN).text == "new"
    finally:
        kernel.delete("penv_repack")


def test_an_archive_with_an_extra_top_folder_says_what_eas_expects(kernel, package, tmp_path):
    # `tar czf demo.tgz demo/`: was "'./app.py' not found in <the kernel's cache folder>"
    import tarfile

    folder = package.parent / "envapp"
    archive = tmp_path / "envapp.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder / "app.py", "envapp/app.py")
    spec = {
        "name": "penv_top",
        "processor_entry": "./app.py",
        "processor_type": "python",
        "metadata": {"instance": 1},
    }
    with pytest.raises(EaslabError) as info:
        kernel.create({**spec, "processor_path": str(archive)})
    message = str(info.value)
    assert f"'./app.py' is not at the root of the archive {archive}" in message
    assert "which holds one folder, envapp/" in message and "cache" not in message
    assert "`cd envapp && tar czf ../envapp.tgz .`" in message
    with pytest.raises(EaslabError) as info:
        kernel.create({**spec, "processor_path": str(package), "processor_entry": "main.py"})
    assert f"'main.py' not found in the archive {package} (it holds ENV/, app.json, app.py)" in (
        str(info.value)
    )


RAISES = """\
import allspark


class App(allspark.BaseProcessor):
    def process(self, data):
        return {"a": b"1"}[data.decode()], 200  # line 6: KeyError for another key
"""


def test_a_packaged_apps_traceback_names_the_users_own_file(kernel, tmp_path):
    # the service log named the kernel's cached copy (state/cache/<sha256>/app.py)
    from kernel_helpers import wait_for

    folder = tmp_path / "tbpack"
    init_project(folder, with_pip=False)
    (folder / "app.py").write_text(RAISES)
    pack_project(folder)
    svc = kernel.create(folder / "app.json")  # the template: ../tbpack.tar.gz
    try:
        assert post(svc.url, b"b", svc.token).status_code == 400

        def logged() -> str:
            return "\n".join(kernel.client.logs("tbpack", 0))

        wait_for(lambda: "line 6, in process" in logged(), what="the traceback in the log")
        assert f'File "{folder.resolve() / "app.py"}", line 6, in process' in logged()
        assert "cache" not in logged()
    finally:
        kernel.delete("tbpack")


def test_a_cached_file_that_differs_from_the_users_keeps_its_own_path(tmp_path, monkeypatch):
    # edited since it was packed: the lines shown are the copy's, so is the path
    from easlab.kernel import own_files

    copy, own = tmp_path / "cache", tmp_path / "demo"
    copy.mkdir()
    own.mkdir()
    (copy / "app.py").write_text("x = 1\n")
    (own / "app.py").write_text("x = 1\n")
    monkeypatch.setattr(own_files, "_package", (str(copy), [str(own)]))
    assert own_files.own_file(str(copy / "app.py")) == str(own / "app.py")
    (own / "app.py").write_text("# edited\nx = 1\n")
    assert own_files.own_file(str(copy / "app.py")) == str(copy / "app.py")
    assert own_files.own_file(str(tmp_path / "elsewhere.py")) == str(tmp_path / "elsewhere.py")


PRINTS = """\
import traceback

import allspark
import helper


class App(allspark.BaseProcessor):
    def process(self, data):
        try:
            return helper.parse(data), 200
        except KeyError:
            traceback.print_exc()  # line 12: the app's own report, in the service log
            return b"unknown key", 400
"""


def test_a_traceback_the_app_prints_itself_names_the_users_own_files(kernel, tmp_path):
    # traceback.print_exc() named the cached copy (state/cache/<sha256>/app.py and
    # helper.py): only easlab's own report of a failure was mapped to the user's files
    from kernel_helpers import wait_for

    folder = tmp_path / "printpack"
    init_project(folder, with_pip=False)
    (folder / "app.py").write_text(PRINTS)
    (folder / "helper.py").write_text('def parse(data):\n    return {"a": b"1"}[data.decode()]\n')
    pack_project(folder)
    svc = kernel.create(folder / "app.json")
    try:
        assert post(svc.url, b"a", svc.token).text == "1"
        assert post(svc.url, b"b", svc.token).status_code == 400

        def logged() -> str:
            return "\n".join(kernel.client.logs("printpack", 0))

        wait_for(lambda: "KeyError: 'b'" in logged(), what="the printed traceback in the log")
        own = folder.resolve()
        assert f'File "{own / "app.py"}", line 10, in process' in logged()
        assert f'File "{own / "helper.py"}", line 2, in parse' in logged()
        assert "cache" not in logged()
    finally:
        kernel.delete("printpack")
