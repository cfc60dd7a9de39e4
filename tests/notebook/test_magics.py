"""The magics through a real IPython shell against a real kernel on loopback."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from easlab.notebook.loadtest import BenchResult

from .conftest import _ANSI, B, W, failing


def test_create_from_json_cell(echo, shell, capsys):
    assert echo.name == "nb_echo" and echo.status == "Running"
    shell.run_line_magic("eas", "ls -o table")
    table = shell.user_ns["table"]
    assert "nb_echo" in list(table["NAME"])
    shell.run_line_magic("eas", "desc nb_echo -o d")
    out = capsys.readouterr().out
    assert shell.user_ns["d"]["token"] == "echo-token-123456"
    assert "echo-token-123456" not in out and "••••••••3456" in out  # masked by default


def test_create_from_yaml_cell(affine):
    assert affine.name == "nb_affine" and affine.status == "Running"
    assert affine.desc["request_format"] == "tf"


def test_dry_run_diffs_against_the_deployed_service(echo, shell, app_dir, capsys):
    capsys.readouterr()
    shell.run_cell_magic(
        "eas",
        "create changes --dry-run",
        f"""
name: nb_echo
token: echo-token-123456
processor_type: python
processor_path: {app_dir}
processor_entry: app.py
metadata:
  instance: 2
""",
    )
    out = capsys.readouterr().out
    # it exists: a create would be refused (409); the diff is what modify would change
    assert "nb_echo: valid, but 'nb_echo' exists: create would be refused (409)" in out
    assert "~ metadata.instance: 1 -> 2" in shell.user_ns["changes"].changes
    shell.run_line_magic("eas", "desc nb_echo -o d")
    assert shell.user_ns["d"]["total_instance"] == 1  # nothing deployed


def _refused_dry_run(shell, capsys, source: str) -> tuple[str, str]:
    """Run a dry-run cell that must fail with EasMagicError: (its message, the output)."""
    from easlab.notebook.magics import EasMagicError

    capsys.readouterr()
    result = shell.run_cell(source)
    assert isinstance(result.error_in_exec, EasMagicError), repr(result.error_in_exec)
    return str(result.error_in_exec), capsys.readouterr().out


def test_modify_dry_run_names_a_path_the_local_kernel_cannot_read(
    echo, shell, tmp_path, monkeypatch, capsys
):
    # it said "valid; would update": the modify itself was refused (a cell's relative
    # paths are the notebook's folder's). The refused plan then came back as the cell's
    # value without an error, where `easlab modify --dry-run` exits 1: Run All went on
    monkeypatch.chdir(tmp_path)
    message, out = _refused_dry_run(
        shell, capsys, '%%eas modify nb_echo --dry-run -o plan\n{"processor_path": "./gone"}'
    )
    assert message.startswith(
        "%eas modify --dry-run: nb_echo: modify would be refused: processor_path: ./gone: no "
        f"such file or directory: {tmp_path / 'gone'} (relative to {tmp_path})"
    ), message
    assert message.endswith("(nothing was changed; the plan is shown above)")
    assert "nb_echo: valid, but modify would be refused" in out  # the plan, shown
    assert "plan" not in shell.user_ns


def test_create_dry_run_of_a_refused_create_fails_the_cell(shell, tmp_path, capsys):
    # a create the kernel would refuse (a processor_path that is not there) returned its
    # plan as if it were fine; `easlab create --dry-run` exits 1
    message, out = _refused_dry_run(
        shell,
        capsys,
        "%%eas create --dry-run\n"
        f'{{"name": "nb_gone", "processor_type": "python", "processor_path": "{tmp_path}/gone",'
        ' "processor_entry": "app.py", "metadata": {"instance": 1}}',
    )
    assert message.startswith(
        "%eas create --dry-run: nb_gone: create would be refused: processor_path:"
    ), message
    assert "no such file or directory" in message and "nb_gone: valid, but" in out


def test_predict_text(echo, shell, capsys):
    shell.run_cell_magic("eas", "predict nb_echo answer", "hello world")
    assert shell.user_ns["answer"] == "echo:hello world"
    assert "HTTP 200" in capsys.readouterr().out


def test_predict_numpy_reshapes_outputs(affine, shell, capsys):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    shell.user_ns["x"] = x
    shell.run_cell_magic("eas", "predict affine_svc out", '{"x": x}')
    out = shell.user_ns["out"]
    assert set(out) == {"y"} and out["y"].shape == (3, 2) and out["y"].dtype == np.float32
    np.testing.assert_allclose(out["y"], x @ W + B)
    text = capsys.readouterr().out
    assert "HTTP 200" in text and "y: float32[3, 2]" in text


def test_predict_errors_are_one_line(affine, echo, shell, capsys):
    capsys.readouterr()
    shell.user_ns["bad"] = np.zeros((2, 3), np.float32)
    assert "x" in failing(shell, capsys, "%%eas predict nb_affine\n" + '{"x": bad}')

    assert "no_such_service" in failing(shell, capsys, "%%eas predict no_such_service\n" + "hi")

    from easlab.client.control import Service

    shell.user_ns["wrong"] = Service(echo.kernel, dict(echo.desc, token="wrong-token-0000"))
    assert "401" in failing(shell, capsys, "%%eas predict wrong\n" + "'hi'")

    # numpy inputs with a wrong token: the 401, not "publishes no tensor signature"
    shell.user_ns["wrong_aff"] = Service(affine.kernel, dict(affine.desc, token="wrong-0000"))
    shell.user_ns["ok"] = np.zeros((1, 4), np.float32)
    line = failing(shell, capsys, '%%eas predict wrong_aff\n{"x": ok}')
    assert "401" in line and "publishes no tensor signature" not in line

    assert "undefined_variable_xyz" in failing(
        shell, capsys, "%eas bench nb_echo --body undefined_variable_xyz -n 1"
    )


def test_predict_undefined_name_raises_and_quoted_text_is_sent(echo, shell, capsys):
    # No silent fallback to text: an undefined name stops the cell (issue 18).
    shell.user_ns.pop("hello", None)
    shell.user_ns["answer"] = "an earlier answer"
    with pytest.raises(NameError, match=r"'hello' is not defined.*quote text") as info:
        shell.run_cell_magic("eas", "predict nb_echo answer", "hello")
    assert info.value.name == "hello"
    assert "answer" not in shell.user_ns  # not left holding the earlier answer
    # text is explicit: a quoted string (or --raw, or text that is not Python)
    shell.run_cell_magic("eas", "predict nb_echo answer", "'hello'")
    assert shell.user_ns["answer"] == "echo:hello"


def test_predict_tensor_body_with_an_undefined_name_raises(affine, shell, capsys):
    shell.user_ns.pop("xx", None)
    with pytest.raises(NameError, match="'xx' is not defined"):
        shell.run_cell_magic("eas", "predict nb_affine out", '{"x": xx}')
    # in a notebook the cell stops with one line, not a traceback into easlab
    capsys.readouterr()
    result = shell.run_cell('%%eas predict nb_affine out\n{"x": xx}')
    assert isinstance(result.error_in_exec, NameError)
    out = capsys.readouterr()
    text = (out.out + out.err).strip()
    assert "Traceback" not in text and "magics.py" not in text
    assert len(text.splitlines()) == 1 and "NameError: name 'xx' is not defined" in text


@pytest.mark.parametrize(
    "cell", ['{"x": [[1, 2, 3, 4]]}', "{'x': [[1, 2, 3, 4]]}", "[[1, 2, 3, 4]]"]
)
def test_predict_lists_are_converted_by_the_signature(affine, shell, capsys, cell):
    # JSON or Python, a list body takes the input's dtype (float32) and shape
    shell.run_cell_magic("eas", "predict nb_affine out", cell)
    out = shell.user_ns["out"]
    x = np.array([[1, 2, 3, 4]], np.float32)
    assert out["y"].dtype == np.float32
    np.testing.assert_allclose(out["y"], x @ W + B)
    assert "HTTP 200" in capsys.readouterr().out


def test_predict_a_list_that_does_not_fit_is_refused_by_name(affine, shell, capsys):
    capsys.readouterr()
    shell.user_ns["out"] = {"y": np.zeros((1, 2), np.float32)}  # an earlier answer
    line = failing(shell, capsys, '%%eas predict nb_affine out\n{"x": [[1, 2, 3]]}')
    assert "'x'" in line and "pass a numpy array" in line and "[-1, 4]" in line
    assert "out" not in shell.user_ns  # a failed predict leaves no stale answer behind

    line = failing(shell, capsys, '%%eas predict nb_affine out\n{"x": [["a", "b", "c", "d"]]}')
    assert "'x'" in line and "pass a numpy array" in line


def test_a_failed_predict_removes_the_variable(echo, shell, capsys):
    from easlab.client.control import Service

    shell.user_ns["wrong_echo"] = Service(echo.kernel, dict(echo.desc, token="wrong-token-0000"))
    shell.user_ns["said"] = "an earlier answer"
    assert "401" in failing(shell, capsys, "%%eas predict wrong_echo said\n'hi'")
    assert "said" not in shell.user_ns
    # the body may use the variable it replaces
    shell.user_ns["said"] = "again"
    shell.run_cell_magic("eas", "predict nb_echo said", "said")
    assert shell.user_ns["said"] == "echo:again"


def test_bench_returns_per_request_frame(echo, shell):
    shell.user_ns["payload"] = b"ping"
    result = shell.run_line_magic("eas", "bench nb_echo --body payload -n 200 -c 4 -o r")
    assert result is shell.user_ns["r"] and isinstance(result, BenchResult)
    df = result.df
    assert len(df) == 200 and (df["status"] == 200).all()
    assert result.p50 == pytest.approx(np.percentile(df["total_ms"], 50))
    assert result.p99 == pytest.approx(np.percentile(df["total_ms"], 99))
    assert result.max == pytest.approx(df["total_ms"].max())


def test_bench_sweep(affine, shell):
    shell.user_ns["x1"] = {"x": np.ones((1, 4), np.float32)}
    result = shell.run_line_magic("eas", "bench nb_affine --body x1 -n 20 --sweep 1,2 -o s")
    assert list(result.sweep_df["concurrency"]) == [1, 2]
    assert result.errors == {}


def test_control_verbs(echo, shell, capsys):
    shell.run_line_magic("eas", "w nb_echo -o workers")
    assert len(shell.user_ns["workers"]) == 1
    shell.run_line_magic("eas", "logs nb_echo -n 5 -o lines")
    assert isinstance(shell.user_ns["lines"], list)
    shell.run_line_magic("eas", "gpu -o g")
    shell.run_line_magic("eas", "modify nb_echo -Dmetadata.nosuchkey=1")
    capsys.readouterr()
    assert "nb_missing" in failing(shell, capsys, "%eas desc nb_missing")


def test_debug_magic_shows_the_widget(affine, shell, capsys):
    shown = []
    shell.display_pub.publish = lambda data, **kw: shown.append(data)  # type: ignore[method-assign]
    try:
        shell.run_line_magic("eas", "debug nb_affine")
    finally:
        del shell.display_pub.publish
    assert any("DebugWidget" in d.get("text/plain", "") for d in shown)
    assert "easlab error" not in capsys.readouterr().out


GREETER = """\
import allspark


class Greeter(allspark.BaseProcessor):
    def process(self, data):
        return b"{version}: " + data, 200
"""


def test_versions_modify_and_roll_back(shell, tmp_path, capsys):
    """%eas modify -s FILE, %%eas modify NAME (cell), %eas version NAME ID, as in tutorial 05."""
    for version in ("v1", "v2", "v3"):
        (tmp_path / version).mkdir()
        (tmp_path / version / "app.py").write_text(GREETER.replace("{version}", version))
    shell.user_ns["greeter_dir"] = str(tmp_path)
    shell.run_cell_magic(
        "eas",
        "create",
        """
name: nb_greeter
processor_type: python
processor_path: $greeter_dir/v1
processor_entry: app.py
metadata:
  instance: 1
""",
    )

    def answer() -> str:
        shell.run_cell_magic("eas", "predict nb_greeter said --raw", "hi")
        return bytes(shell.user_ns["said"]).decode()

    try:
        assert answer() == "v1: hi"
        # -s with a file, as `easlab modify NAME -s v2.json`
        (tmp_path / "v2.json").write_text(f'{{"processor_path": "{tmp_path / "v2"}"}}')
        capsys.readouterr()
        shell.run_line_magic("eas", f"modify nb_greeter -s {tmp_path / 'v2.json'} -o d")
        assert shell.user_ns["d"]["current_version"] == 2
        assert "service nb_greeter modified: now at version 2" in capsys.readouterr().out
        assert answer() == "v2: hi"
        # the notebook way: the partial service.json in the cell, with substitution
        shell.run_cell_magic("eas", "modify nb_greeter -o d", "processor_path: $greeter_dir/v3\n")
        assert shell.user_ns["d"]["current_version"] == 3
        assert answer() == "v3: hi"
        # roll back: NAME then ID, as eascmd
        capsys.readouterr()
        shell.run_line_magic("eas", "version nb_greeter 1 -o d")
        assert "service nb_greeter now at version 1" in capsys.readouterr().out
        assert shell.user_ns["d"]["current_version"] == 1
        assert answer() == "v1: hi"
        # -D changes a field without a new version
        shell.run_line_magic("eas", "modify nb_greeter -Dmetadata.instance=2 -o d")
        assert shell.user_ns["d"]["current_version"] == 1
        assert shell.user_ns["d"]["running_instance"] == 2  # waited for the new instance
        # a bad version id is one clear line
        capsys.readouterr()
        assert "9" in failing(shell, capsys, "%eas version nb_greeter 9")
        # a stopped service stays stopped through a version switch, and the cell says so
        shell.run_line_magic("eas", "stop nb_greeter")
        capsys.readouterr()
        shell.run_line_magic("eas", "version nb_greeter 3 -o d")
        out = capsys.readouterr().out
        assert (shell.user_ns["d"]["status"], shell.user_ns["d"]["current_version"]) == (
            "Stopped",
            3,
        )
        assert "service nb_greeter is stopped: version 3 (latest 3)" in out, out
        assert "%eas start nb_greeter serves it" in out, out
    finally:
        shell.run_line_magic("eas", "delete nb_greeter")


def test_create_shows_its_summary_once(shell, app_dir):
    shown = []
    shell.display_pub.publish = lambda data, **kw: shown.append(data)  # type: ignore[method-assign]
    shell.user_ns["app_dir"] = str(app_dir)
    try:
        result = shell.run_cell_magic(
            "eas",
            "create once_svc",
            "name: nb_once\nprocessor_type: python\nprocessor_path: $app_dir\n"
            "processor_entry: app.py\nmetadata:\n  instance: 1\n",
        )
    finally:
        del shell.display_pub.publish
    try:
        assert result is None and shell.user_ns["once_svc"].name == "nb_once"
        summaries = [d for d in shown if "name: nb_once" in d.get("text/plain", "")]
        assert len(summaries) == 1, shown
        assert "service nb_once created" in summaries[0]["text/plain"]
    finally:
        shell.run_line_magic("eas", "delete nb_once")


def test_create_names_a_mistyped_queue_setting(shell):
    from easlab.notebook.magics import EasMagicError

    cell = "name: nb_qtypo\nmetadata:\n  type: Queue\n  queue:\n    max_lenght: 3\n"
    with pytest.raises(EasMagicError) as info:
        shell.run_cell_magic("eas", "create", cell)
    assert "did you mean 'metadata.queue.max_length'?" in info.value.message
    shown = []
    shell.display_pub.publish = lambda data, **kw: shown.append(data)  # type: ignore[method-assign]
    try:
        shell.run_cell_magic("eas", "create --allow-unknown-keys", cell)
    finally:
        del shell.display_pub.publish
        shell.run_line_magic("eas", "delete nb_qtypo")
    text = "\n".join(d.get("text/plain", "") for d in shown)
    assert "warning: unknown key 'metadata.queue.max_lenght' kept but not used" in text, shown


# ----------------------------------------------------------------------------- a failed start

BOOM = """\
import allspark


class Boom(allspark.BaseProcessor):
    def initialize(self):
        raise RuntimeError("no model here")

    def process(self, data):
        return data, 200
"""


def test_a_service_that_fails_to_start_fails_the_cell(shell, tmp_path):
    """A Failed create stops Run All at this cell (the CLI exits 1), its summary shown."""
    from easlab.notebook.magics import EasMagicError

    (tmp_path / "app.py").write_text(BOOM)
    shell.user_ns["boom_dir"] = str(tmp_path)
    shell.user_ns["boom"] = "an earlier value"
    shown: list[dict] = []
    shell.display_pub.publish = lambda data, **kw: shown.append(data)  # type: ignore[method-assign]
    try:
        result = shell.run_cell(
            "%%eas create boom\nname: nb_boom\nprocessor_type: python\n"
            "processor_path: $boom_dir\nprocessor_entry: app.py\nmetadata:\n  instance: 1\n"
        )
    finally:
        del shell.display_pub.publish
    try:
        error = result.error_in_exec
        assert isinstance(error, EasMagicError), repr(error)
        assert error.message.startswith("service nb_boom failed to start: ")
        assert "no model here" in error.message and "Traceback" not in error.message
        assert "%eas logs nb_boom" in error.message
        summaries = [d for d in shown if "name: nb_boom" in d.get("text/plain", "")]
        assert len(summaries) == 1, shown  # the description, once, with the whole message
        assert "service nb_boom failed to start" in summaries[0]["text/plain"]
        assert "boom" not in shell.user_ns  # no stale value behind a failed cell
    finally:
        shell.run_line_magic("eas", "delete nb_boom")


def test_start_of_a_service_that_fails_again_fails_the_cell(shell, tmp_path, capsys):
    """start (and modify, version) share create's path: a Failed result is a red line."""
    from easlab.notebook.magics import EasMagicError

    (tmp_path / "app.py").write_text(BOOM)
    shell.user_ns["boom_dir"] = str(tmp_path)
    shell.run_cell(
        "%%eas create\nname: nb_boom2\nprocessor_type: python\n"
        "processor_path: $boom_dir\nprocessor_entry: app.py\nmetadata:\n  instance: 1\n"
    )
    try:
        capsys.readouterr()
        result = shell.run_cell("%eas start nb_boom2 d")
        error = result.error_in_exec
        assert isinstance(error, EasMagicError), repr(error)
        assert error.message.startswith("service nb_boom2 failed to start: ")
        assert "no model here" in error.message
        out = capsys.readouterr().out
        assert "service nb_boom2 failed to start" in out and "status: Failed" in out
        assert "d" not in shell.user_ns
    finally:
        shell.run_line_magic("eas", "delete nb_boom2")


def test_a_modify_whose_new_version_fails_fails_the_cell(shell, tmp_path):
    """The old version goes on serving, and the cell says the change did not take (the
    CLI: [FAILED], exit 1), so Run All does not go on as if it had."""
    from easlab.notebook.magics import EasMagicError

    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "app.py").write_text(GREETER.replace("{version}", "v1"))
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "app.py").write_text(BOOM)
    shell.user_ns["mod_dir"] = str(tmp_path)
    shell.run_cell(
        "%%eas create\nname: nb_modfail\nprocessor_type: python\n"
        "processor_path: $mod_dir/v1\nprocessor_entry: app.py\nmetadata:\n  instance: 1\n"
    )
    try:
        result = shell.run_cell("%%eas modify nb_modfail -o d\nprocessor_path: $mod_dir/v2\n")
        error = result.error_in_exec
        assert isinstance(error, EasMagicError), repr(error)
        assert error.message.startswith(
            "service nb_modfail was not changed (it still serves version 1): "
            "version 2 failed to start: "
        )
        assert "no model here" in error.message and "%eas logs nb_modfail" in error.message
        assert "d" not in shell.user_ns
        shell.run_cell_magic("eas", "predict nb_modfail said --raw", "hi")
        assert bytes(shell.user_ns["said"]).decode() == "v1: hi"
    finally:
        shell.run_line_magic("eas", "delete nb_modfail")


def test_the_progress_line_says_failed_after(monkeypatch, shell):
    from easlab.notebook.magics import _Progress

    monkeypatch.setattr(_Progress, "DELAY_S", 0.0)
    shown: list[dict] = []
    shell.display_pub.publish = lambda data, **kw: shown.append(data)  # type: ignore[method-assign]
    try:
        progress = _Progress(None, "nb_slow")
        progress.poll({"status": "Waiting", "running_instance": 0, "total_instance": 1})
        progress.finish(failed=True)
    finally:
        del shell.display_pub.publish
    texts = [d.get("text/plain", "") for d in shown]
    assert any("Waiting, 0/1 instances running" in t for t in texts)
    assert "nb_slow: failed after" in texts[-1] and "done in" not in texts[-1]


# ----------------------------------------------------------------------------- delete


def test_delete_shows_its_result_once(shell, app_dir, capsys):
    shell.user_ns["app_dir"] = str(app_dir)
    for name in ("nb_gone", "nb_gone2"):
        shell.run_cell_magic(
            "eas",
            "create",
            f"name: {name}\nprocessor_type: python\nprocessor_path: $app_dir\n"
            "processor_entry: app.py\nmetadata:\n  instance: 1\n",
        )
    capsys.readouterr()
    shell.run_cell("%eas delete nb_gone")
    out = capsys.readouterr().out
    assert out.count("deleted service nb_gone") == 1 and "{'deleted'" not in out, out
    shell.run_cell("%eas delete nb_gone2 gone")
    out = capsys.readouterr().out
    assert out.count("deleted service nb_gone2") == 1 and "{'deleted'" not in out, out
    assert shell.user_ns["gone"] == {"deleted": "nb_gone2"}  # the answer, as a dict
    # not the cell's last line (the tutorials' clean-up cell): the line shows all the same
    shell.run_cell_magic(
        "eas",
        "create",
        "name: nb_gone3\nprocessor_type: python\nprocessor_path: $app_dir\n"
        "processor_entry: app.py\nmetadata:\n  instance: 1\n",
    )
    capsys.readouterr()
    shell.run_cell("%eas delete nb_gone3\nx_after_delete = 1")
    assert capsys.readouterr().out.count("deleted service nb_gone3") == 1


# ----------------------------------------------------------------------------- the notebook's timeout

SLOW = """\
import time

import allspark


class Slow(allspark.BaseProcessor):
    def process(self, data):
        if data == b"sleep":
            time.sleep(3)
        return b"awake", 200
"""


def test_the_notebooks_own_timeout_says_so(shell, tmp_path, capsys):
    (tmp_path / "app.py").write_text(SLOW)
    shell.user_ns["slow_dir"] = str(tmp_path)
    shell.run_cell_magic(
        "eas",
        "create",
        "name: nb_slow\nprocessor_type: python\nprocessor_path: $slow_dir\n"
        "processor_entry: app.py\nmetadata:\n  instance: 1\n",
    )
    before = shell.run_line_magic("config", "EasMagic.timeout")
    shell.run_line_magic("config", "EasMagic.timeout = 0.5")
    try:
        capsys.readouterr()
        line = failing(shell, capsys, "%%eas predict nb_slow r\n'sleep'")
        assert "no answer from 'nb_slow' within 0.5 s" in line
        assert "the notebook's timeout, EasMagic.timeout" in line
        assert "may still be working" in line
        assert line.endswith("%config EasMagic.timeout = 120")
        assert "Code: 0" not in line and "TimeoutError" not in line
    finally:
        shell.run_line_magic("config", f"EasMagic.timeout = {before}")
        shell.run_line_magic("eas", "delete nb_slow")


# ----------------------------------------------------------------------------- $var in a create cell


def test_create_cell_takes_dicts_and_bools_as_json(shell, app_dir, capsys):
    shell.user_ns.update(
        app_dir=str(app_dir), cfg={"threshold": 0.5, "labels": ["a", "b"]}, flag=True, n=2
    )
    json_cell = (
        '{"name": "nb_vars", "processor_type": "python", "processor_path": "$app_dir",\n'
        ' "processor_entry": "app.py", "model_config": $cfg, "generate_token": $flag,\n'
        ' "metadata": {"instance": $n}, "description": "price in $$USD"}'
    )
    yaml_cell = (
        "name: nb_vars\nprocessor_type: python\nprocessor_path: $app_dir\n"
        "processor_entry: app.py\nmodel_config: $cfg\ngenerate_token: $flag\n"
        "metadata:\n  instance: $n\ndescription: price in $$USD\n"
    )
    for cell in (json_cell, yaml_cell):
        capsys.readouterr()
        shell.run_cell_magic("eas", "create plan --dry-run", cell)
        changes = shell.user_ns["plan"].changes
        assert "+ model_config.threshold: 0.5" in changes, changes
        assert '+ model_config.labels: ["a", "b"]' in changes
        assert "+ generate_token: true" in changes and "+ metadata.instance: 2" in changes
        assert '+ description: "price in $USD"' in changes
        assert "easlab error" not in capsys.readouterr().out


def test_a_value_json_cannot_hold_names_its_variable(shell, capsys):
    shell.user_ns["tags"] = {"a", "b"}
    line = failing(shell, capsys, '%%eas create --dry-run\n{"name": "nb_x", "model_config": $tags}')
    assert line.startswith("easlab error: $tags in the cell: a set cannot be written")


# ----------------------------------------------------------------------------- bodies that are not a dict


def test_predict_a_dataframe_fills_the_one_input(affine, shell, capsys):
    import pandas as pd

    x = np.arange(8).reshape(2, 4)  # int64: the signature's dtype (float32) is taken
    shell.user_ns["frame"] = pd.DataFrame(x, columns=list("abcd"))
    shell.run_cell_magic("eas", "predict nb_affine out", "frame")
    out = shell.user_ns["out"]
    assert out["y"].dtype == np.float32
    np.testing.assert_allclose(out["y"], x.astype(np.float32) @ W + B)
    assert "HTTP 200" in capsys.readouterr().out


def test_predict_a_dataframe_that_does_not_fit_is_refused_before_sending(affine, shell, capsys):
    import pandas as pd

    shell.user_ns["frame3"] = pd.DataFrame(np.zeros((2, 3), np.float32), columns=list("abc"))
    line = failing(shell, capsys, "%%eas predict nb_affine out\nframe3")
    assert "service 'nb_affine' takes tensors {x: float32[-1,4]}" in line
    assert "3 columns (a, b, c)" in line and "Code: 400" not in line


def two_input_onnx() -> bytes:
    """y = a + b, inputs a and b: float32 [batch]."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["y"])],
        "add",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch"]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch"]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def test_predict_a_dataframe_fills_inputs_by_column(shell, tmp_path, capsys):
    pytest.importorskip("onnx")
    import pandas as pd

    (tmp_path / "add.onnx").write_bytes(two_input_onnx())
    shell.user_ns["add_dir"] = str(tmp_path)
    shell.run_cell_magic(
        "eas",
        "create",
        "name: nb_add\nprocessor: onnx\nmodel_path: $add_dir\nmetadata:\n  instance: 1\n",
    )
    try:
        shell.user_ns["ab"] = pd.DataFrame({"b": [10, 20], "a": [1.5, 2.5]})
        shell.run_cell_magic("eas", "predict nb_add out", "ab")
        np.testing.assert_allclose(shell.user_ns["out"]["y"], [11.5, 22.5])
        capsys.readouterr()
        shell.user_ns["ac"] = pd.DataFrame({"a": [1.0], "c": [2.0]})
        line = failing(shell, capsys, "%%eas predict nb_add out\nac")
        assert "takes tensors {a: float32[-1], b: float32[-1]}" in line
        assert "no column ['b']" in line and "no input ['c']" in line
        assert "{'a': array, 'b': array}" in line
    finally:
        shell.run_line_magic("eas", "delete nb_add")


def test_bench_a_quoted_body_for_a_tensor_service_is_refused(affine, shell, capsys):
    capsys.readouterr()
    line = failing(shell, capsys, """%eas bench nb_affine --body '{"x": [[1,2,3,4]]}' -n 5""")
    assert "--body is a str" in line and "in quotes" in line
    assert "takes tensors {x: float32[-1,4]}" in line
    assert 'drop the quotes (--body {"x":[[1,2,3,4]]})' in line
    # the suggestion works
    result = shell.run_line_magic("eas", 'bench nb_affine --body {"x":[[1,2,3,4]]} -n 5 -o r')
    assert result.errors == {}


def test_bench_a_dataframe_and_refuse_a_str_in_python(affine, shell):
    import pandas as pd

    from easlab.errors import RequestError
    from easlab.notebook.loadtest import bench

    frame = pd.DataFrame(np.ones((3, 4), np.float32))
    result = bench(affine, frame, n=5, concurrency=1, progress=False)
    assert result.errors == {}
    with pytest.raises(RequestError, match=r"body is a str .*takes tensors \{x: float32\[-1,4\]\}"):
        bench(affine, '{"x": [[1, 2, 3, 4]]}', n=5, concurrency=1, progress=False)


def test_predict_raw_text_to_a_tensor_service_is_sent(affine, shell, capsys):
    capsys.readouterr()
    line = failing(shell, capsys, "%%eas predict nb_affine --raw\nhello")
    assert "400" in line  # raw is raw: the kernel's answer


def test_predict_a_url_with_its_token_sends_the_token_and_never_shows_it(echo, shell, capsys):
    # a URL pasted as it is shared, ?token=... and all: the token goes in the header
    url = f"{echo.url}?token={echo.token}"
    shell.run_cell_magic("eas", f"predict {url} said", "'hi'")
    assert shell.user_ns["said"] == "echo:hi"
    assert echo.token not in capsys.readouterr().out

    line = failing(shell, capsys, f"%%eas predict {echo.url}?token=wrong-secret-42 said\n'hi'")
    assert "401" in line and "wrong token" in line and "wrong-secret-42" not in line
    # no token at all: the line says how to give one
    line = failing(shell, capsys, f"%%eas predict {echo.url} said\n'hi'")
    assert "missing token" in line and "?token={token}" in line
    # as the line says: IPython puts a variable's token in, the cell's source holds none
    shell.user_ns["token"], shell.user_ns["said"] = echo.token, None
    shell.run_cell(f"%%eas predict {echo.url}?token={{token}} said\n'again'")
    assert shell.user_ns["said"] == "echo:again"


RAISES = """\
import allspark


class Raises(allspark.BaseProcessor):
    def process(self, data):
        raise ValueError("expected 3 features")
"""


def test_a_model_that_raises_names_the_magic_that_shows_its_log(shell, tmp_path, capsys):
    (tmp_path / "app.py").write_text(RAISES)
    shell.user_ns["raises_dir"] = str(tmp_path)
    shell.run_cell(
        "%%eas create\nname: nb_raises\nprocessor_type: python\n"
        "processor_path: $raises_dir\nprocessor_entry: app.py\nmetadata:\n  instance: 1\n"
    )
    capsys.readouterr()
    try:
        line = failing(shell, capsys, "%%eas predict nb_raises\n'hi'")
        assert "ValueError: expected 3 features" in line
        assert "%eas logs nb_raises" in line and "easlab logs" not in line
    finally:
        shell.run_line_magic("eas", "delete nb_raises")


AGAIN_CELL = """
{
  "name": "nb_again",
  "token": "again-token-123456",
  "processor_type": "python",
  "processor_path": "{app_dir}",
  "processor_entry": "app.py",
  "metadata": {"instance": 1}
}
"""


def test_run_all_twice_finds_the_service_its_create_cell_deployed(echo, shell, capsys):
    """Run All a second time: the create cell's service exists, deployed from that very
    cell. The cell failed with a 409 and Run All stopped there; the service it made is
    now found and used, and the cells after it run. A cell that differs (here: no
    token) is still refused, naming what differs (the token, masked)."""
    first = shell.run_cell("%%eas create again\n" + AGAIN_CELL)
    assert first.error_in_exec is None, first.error_in_exec
    try:
        capsys.readouterr()
        result = shell.run_cell("%%eas create again2\n" + AGAIN_CELL)
        assert result.error_in_exec is None, result.error_in_exec
        again = shell.user_ns["again2"]
        assert again.existed and again.name == "nb_again" and again.status == "Running"
        assert "service nb_again exists, deployed from this same cell: using it" in (
            capsys.readouterr().out
        )
        shell.run_cell_magic("eas", "predict again2 said", "'again'")
        assert shell.user_ns["said"] == "echo:again"
        capsys.readouterr()
        other = AGAIN_CELL.replace('  "token": "again-token-123456",\n', "")
        line = failing(shell, capsys, "%%eas create\n" + other)
        assert "service 'nb_again' exists, deployed from another description (- token)" in line
        assert "%%eas modify" in line and "`modify`" not in line
        assert "again-token-123456" not in line
        shell.run_cell_magic("eas", "predict nb_again said", "'still here'")
        assert shell.user_ns["said"] == "echo:still here"
    finally:
        shell.run_line_magic("eas", "delete nb_again")


def _affine_model(scale: float) -> bytes:
    import onnx
    from onnx import numpy_helper

    from .conftest import affine_onnx

    model = onnx.load_from_string(affine_onnx())
    w = next(i for i in model.graph.initializer if i.name == "W")
    w.CopyFrom(numpy_helper.from_array(W * scale, "W"))
    return model.SerializeToString()


RETRAINED_CELL = """
name: nb_retrained
processor: onnx
model_path: $retrained_dir
metadata:
  instance: 1
"""


def test_run_all_after_training_again_serves_the_new_model(shell, tmp_path, capsys):
    """Train, save to the same folder, Run All: the create cell is the same, so the
    service it deployed was used as it was, serving the model its instance loaded
    before the new one was saved (and an instance restarted later would have loaded
    the new one beside it). Now the kernel sees the folder's files changed since the
    version was built and makes a version that loads them; run again with the same
    bytes saved anew, nothing changes."""
    pytest.importorskip("onnx")
    (tmp_path / "affine.onnx").write_bytes(_affine_model(1.0))
    shell.user_ns["retrained_dir"] = str(tmp_path)
    x = np.ones((1, 4), np.float32)
    shell.user_ns["retrained_x"] = x
    first = shell.run_cell("%%eas create retrained\n" + RETRAINED_CELL)
    assert first.error_in_exec is None, first.error_in_exec
    try:

        def predicted() -> np.ndarray:
            shell.run_cell_magic("eas", "predict nb_retrained retrained_out", '{"x": retrained_x}')
            return shell.user_ns["retrained_out"]["y"]

        np.testing.assert_allclose(predicted(), x @ W + B)
        (tmp_path / "affine.onnx").write_bytes(_affine_model(3.0))  # trained again
        capsys.readouterr()
        again = shell.run_cell("%%eas create retrained\n" + RETRAINED_CELL)
        assert again.error_in_exec is None, again.error_in_exec
        assert (
            "service nb_retrained exists, deployed from this same cell; its model files "
            "changed since it loaded them: version 2 serves them"
        ) in capsys.readouterr().out
        service = shell.user_ns["retrained"]
        assert service.existed and service.reloaded == 2 and service.status == "Running"
        np.testing.assert_allclose(predicted(), x @ (W * 3) + B)
        # trained again to the same weights (a seeded Run All): new file, same bytes
        model = tmp_path / "affine.onnx"
        model.write_bytes(model.read_bytes())
        os.utime(model, ns=(model.stat().st_atime_ns, model.stat().st_mtime_ns + 10**9))
        third = shell.run_cell("%%eas create retrained\n" + RETRAINED_CELL)
        assert third.error_in_exec is None, third.error_in_exec
        assert "deployed from this same cell: using it" in capsys.readouterr().out
        assert shell.user_ns["retrained"].reloaded is None
        assert shell.user_ns["retrained"].desc["latest_version"] == 2
    finally:
        shell.run_line_magic("eas", "delete nb_retrained")


def test_a_variable_lost_in_a_notebook_restart_is_said_so(affine, shell, capsys):
    # %%eas create svc, then the notebook's kernel restarts: the service runs, svc is gone
    shell.user_ns.pop("svc_before_restart", None)
    line = failing(shell, capsys, "%%eas predict svc_before_restart\n[[1, 2, 3, 4]]")
    assert "service 'svc_before_restart' not found" in line and "nb_affine" in line
    assert "nor is svc_before_restart a variable of this notebook" in line
    assert "run the cell that set it again" in line


@pytest.mark.parametrize(
    ("cell", "why"),
    [
        # an import or an assignment above the value, as in any other cell
        ("y = np.ones((2, 4), np.float32)\n{'x': y}", "it holds statements, not one expression"),
        # a typo: the bracket of np.ones( is never closed
        ("{'x': np.ones((2, 4), np.float32}", "it is not Python (closing parenthesis"),
    ],
)
def test_predict_a_cell_that_is_not_an_expression_says_it_went_as_text(
    affine, shell, capsys, cell, why
):
    # it was sent as text, and the 400 spoke only of protobuf wire types ("unsupported
    # wire type 4 (field 5)"): nothing said the cell had never been evaluated
    shell.user_ns["np"] = np
    capsys.readouterr()
    line = failing(shell, capsys, f"%%eas predict nb_affine out\n{cell}")
    assert "400" in line and "the cell was sent as text, not evaluated: " + why in line, line
    assert "line 1: " in line and "one Python expression whose value is sent" in line
    assert "run any imports or assignments in a cell above" in line


def test_predict_raw_text_is_refused_without_the_note(affine, shell, capsys):
    # --raw sends text on purpose: the service's answer, nothing added
    capsys.readouterr()
    line = failing(shell, capsys, "%%eas predict nb_affine --raw\ny = 1\nhello")
    assert "400" in line and "sent as text" not in line


@pytest.mark.parametrize(
    ("source", "fix"),
    [
        ("%%eas ls\nnb_echo", "move those lines to a cell of their own"),
        ("%%eas desc nb_echo\nextra", "move those lines to a cell of their own"),
        # bench's request is --body VAR; its missing --body was the error shown
        ("%%eas bench nb_echo -n 1\n'hi'", "give the request with --body VAR"),
    ],
)
def test_a_cell_body_for_a_verb_that_takes_none_is_refused(echo, shell, capsys, source, fix):
    # the lines under %%eas ls were dropped without a word, as if they had been used
    capsys.readouterr()
    shell.user_ns.pop("_", None)
    line = failing(shell, capsys, source)
    verb = source.split()[1]
    assert f"{verb} takes no cell body" in line and fix in line, line
    assert f"with one %: %eas {verb} " in line
    # a blank body is no body: %%eas ls with an empty line under it still runs
    shell.run_cell("%%eas ls table\n\n")
    assert "nb_echo" in list(shell.user_ns["table"]["NAME"])


def test_predict_says_when_an_output_holds_nan(affine, shell, capsys):
    # a model fed a NaN (or unscaled inputs) answers NaN with HTTP 200: the summary said
    # only "y: float32[20, 2]", and the table shows the first 8 rows, not row 12
    from easlab.notebook.display import array_html

    x = np.ones((20, 4), np.float32)
    x[12, 0] = np.nan
    shell.user_ns["x_nan"] = x
    capsys.readouterr()
    shell.run_cell("%%eas predict nb_affine out\n{'x': x_nan}")
    text = capsys.readouterr().out
    assert "y: float32[20, 2] (2 NaN of 40 values)" in text, text
    assert "(2 NaN of 40 values)" in array_html("y", shell.user_ns["out"]["y"])
    shell.user_ns["x_nan"] = np.full((2, 4), np.nan, np.float32)
    shell.run_cell("%%eas predict nb_affine out\n{'x': x_nan}")
    assert "y: float32[2, 2] (all NaN)" in capsys.readouterr().out
    shell.user_ns["x_nan"] = np.ones((2, 4), np.float32)  # finite: nothing said
    shell.run_cell("%%eas predict nb_affine out\n{'x': x_nan}")
    assert "y: float32[2, 2]\n" in capsys.readouterr().out + "\n"


def test_predict_to_a_stopped_service_names_the_magic_that_starts_it(shell, app_dir, capsys):
    # the kernel's 503 says "start it: easlab start NAME", a terminal command, in a
    # notebook where the other messages already name their magics (%eas logs NAME)
    shell.user_ns["app_dir"] = str(app_dir)
    shell.run_cell_magic(
        "eas",
        "create",
        "name: nb_paused\nprocessor_type: python\nprocessor_path: $app_dir\n"
        "processor_entry: app.py\nmetadata:\n  instance: 1\n",
    )
    try:
        shell.run_line_magic("eas", "stop nb_paused")
        capsys.readouterr()
        line = failing(shell, capsys, "%%eas predict nb_paused\n'hi'")
        assert "503" in line and "start it: %eas start nb_paused" in line, line
        assert "easlab start" not in line
    finally:
        shell.run_line_magic("eas", "delete nb_paused")


def test_predict_a_str_to_a_tensor_service_says_what_it_takes(affine, shell, capsys):
    # 'hello' (or a variable holding text) went as text, and the 400 spoke of protobuf
    # wire types; bench --body refuses a str for a tensor service before sending
    capsys.readouterr()
    shell.user_ns["words"] = "1, 2, 3, 4"
    for cell in ("'hello'", "words"):
        line = failing(shell, capsys, f"%%eas predict nb_affine out\n{cell}")
        assert "400" in line and "the cell's value is a str, sent as text" in line, line
        assert "takes tensors {x: float32[-1,4]}" in line and "e.g. {'x': x}" in line


def test_predict_one_row_as_a_1d_array_says_how_to_make_it_a_batch(affine, shell, capsys):
    # the model takes [-1, 4]: a single sample as np.ones(4) was refused with the shapes
    # only; a first-time user does not read "received [4]" as "add a batch dimension"
    shell.user_ns["row"] = np.ones(4, np.float32)
    capsys.readouterr()
    line = failing(shell, capsys, "%%eas predict nb_affine out\n{'x': row}")
    assert (
        "expected shape [-1, 4] (-1 is any size), received [4]; one row as a batch of one: " in line
    )
    assert "x.reshape(1, -1)" in line
    shell.user_ns["row"] = np.ones(5, np.float32)  # another width: the shapes say it
    line = failing(shell, capsys, "%%eas predict nb_affine out\n{'x': row}")
    assert line.endswith("received [5]"), line


@pytest.mark.parametrize(
    ("cell", "said"),
    [("None", "cannot send None (an expression that returns nothing"), ("{1, 2}", "a set")],
)
def test_predict_a_value_nothing_can_send_is_one_line(affine, shell, capsys, cell, said):
    # the TypeError came out of easlab/wire/build.py as a traceback through the magic
    capsys.readouterr()
    line = failing(shell, capsys, f"%%eas predict nb_affine out\n{cell}")
    assert said in line and "a dict of input name -> numpy array" in line, line


def test_predict_a_dataframe_with_a_text_column_names_the_column(affine, shell, capsys):
    # a frame with a text column "d" was refused as "the value holds float items" (the
    # type of its first value), naming neither the column nor the fix
    import pandas as pd

    shell.user_ns["frame"] = pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0], "d": ["x"]})
    capsys.readouterr()
    line = failing(shell, capsys, "%%eas predict nb_affine out\nframe")
    assert "the DataFrame's column ['d'] holds text" in line, line
    assert "df.drop(columns=['d'])" in line and "float32" in line
    assert "float items" not in line


def _bench_cell(shell, capsys, source: str) -> tuple[Any, list[str]]:
    """Run a ``%eas bench`` cell: (its error, the lines it wrote besides the progress bar)."""
    capsys.readouterr()
    result = shell.run_cell(source)
    out = capsys.readouterr()
    text = _ANSI.sub("", out.out + out.err)
    # tqdm's bar redraws with \r on one line: what is left of a line after its last \r
    lines = [ln.rsplit("\r", 1)[-1].strip() for ln in text.splitlines()]
    return result.error_in_exec, [ln for ln in lines if ln and not ln.startswith("concurrency ")]


def test_a_bench_of_a_model_that_raises_fails_the_cell_with_one_line(shell, tmp_path, capsys):
    # every request failed and the cell succeeded: a table of errors, then Run All went
    # on; %%eas predict of the same service fails its cell with one red line. The line
    # names the magic that shows the log (it said "easlab logs NAME", a terminal command)
    from easlab.notebook.magics import EasMagicError

    (tmp_path / "app.py").write_text(RAISES)
    shell.user_ns["raises_dir"] = str(tmp_path)
    shell.run_cell(
        "%%eas create\nname: nb_raises_bench\nprocessor_type: python\n"
        "processor_path: $raises_dir\nprocessor_entry: app.py\nmetadata:\n  instance: 1\n"
    )
    shell.user_ns["payload"] = "hi"
    try:
        error, lines = _bench_cell(
            shell, capsys, "%eas bench nb_raises_bench --body payload -n 3 -c 1 -o r"
        )
        assert isinstance(error, EasMagicError), (error, lines)
        assert lines == [f"easlab error: {error.message}"], lines
        assert error.message.startswith(
            "%eas bench nb_raises_bench: all 3 requests failed (HTTP 400: 3); the first "
            "error: HTTP 400: ValueError: expected 3 features"
        ), error.message
        assert "%eas logs nb_raises_bench" in error.message and "easlab logs" not in error.message
        assert error.message.endswith("r holds the per-request result")
        r = shell.user_ns["r"]  # what was measured is kept
        assert r.errors == {400: 3} and "%eas logs nb_raises_bench" in r.first_error
        assert "%eas logs nb_raises_bench" in r.summary().loc["first error", "value"]
        # 20 failures and no success: stopped early, and said so, once
        error, lines = _bench_cell(shell, capsys, "%eas bench nb_raises_bench --body payload -c 1")
        assert isinstance(error, EasMagicError) and len(lines) == 1, lines
        assert "all 20 requests failed (HTTP 400: 20; it stopped there" in error.message
    finally:
        shell.run_line_magic("eas", "delete nb_raises_bench")


HALF = """\
import allspark


class Half(allspark.BaseProcessor):
    def initialize(self):
        self.calls = 0

    def process(self, data):
        self.calls += 1
        if self.calls % 2:
            return b"ok", 200
        raise ValueError("every other call fails")
"""


def test_a_partly_failed_bench_shows_its_result_and_how_many_failed(shell, tmp_path, capsys):
    (tmp_path / "app.py").write_text(HALF)
    shell.user_ns["half_dir"] = str(tmp_path)
    shell.run_cell(
        "%%eas create\nname: nb_half_bench\nprocessor_type: python\n"
        "processor_path: $half_dir\nprocessor_entry: app.py\nmetadata:\n  instance: 1\n"
    )
    shell.user_ns["payload"] = "hi"
    try:
        error, _ = _bench_cell(
            shell, capsys, "%eas bench nb_half_bench --body payload -n 10 -c 1 -o r"
        )
        assert error is None
        r = shell.user_ns["r"]
        assert (r.n, r.succeeded, r.errors) == (10, 5, {400: 5})
        assert r.summary().loc["errors", "value"] == "5 of 10 failed: HTTP 400: 5"
        assert "every other call fails" in r.summary().loc["first error", "value"]
    finally:
        shell.run_line_magic("eas", "delete nb_half_bench")


def test_a_bench_of_a_stopped_service_fails_the_cell_saying_how_to_start_it(echo, shell, capsys):
    from easlab.notebook.magics import EasMagicError

    shell.user_ns["payload"] = b"hi"
    shell.run_line_magic("eas", "stop nb_echo")
    try:
        error, lines = _bench_cell(shell, capsys, "%eas bench nb_echo --body payload -n 5 -c 1")
    finally:
        shell.run_line_magic("eas", "start nb_echo")
    assert isinstance(error, EasMagicError), (error, lines)
    assert "all 5 requests failed (HTTP 503: 5)" in error.message
    assert "%eas start nb_echo" in error.message, error.message


EXITS = """\
import os

import allspark


class Exits(allspark.BaseProcessor):
    def process(self, data):
        print("loading the lookup table", flush=True)
        os._exit(3)
"""


def test_a_model_that_exits_while_serving_names_the_log_and_the_log_has_its_last_words(
    shell, tmp_path, capsys
):
    # the 502 said "instance nb_exits-0 of service 'nb_exits' exited with code 3 while
    # processing this request", and nothing of where to look next
    (tmp_path / "app.py").write_text(EXITS)
    shell.user_ns["exits_dir"] = str(tmp_path)
    shell.run_cell(
        "%%eas create\nname: nb_exits\nprocessor_type: python\n"
        "processor_path: $exits_dir\nprocessor_entry: app.py\nmetadata:\n  instance: 1\n"
    )
    try:
        capsys.readouterr()
        line = failing(shell, capsys, "%%eas predict nb_exits out\nb'hi'")
        assert "exited with code 3 while processing this request" in line, line
        assert line.endswith(
            "(what it printed before it exited is in its log: %eas logs nb_exits)"
        ), line
        shell.run_line_magic("eas", "logs nb_exits -o log")
        assert any("loading the lookup table" in ln for ln in shell.user_ns["log"])
    finally:
        shell.run_line_magic("eas", "delete nb_exits")


def test_a_wrong_token_in_a_url_says_how_to_fix_it_in_the_notebook(affine, shell, capsys):
    # the 401 said "send the service token as the Authorization header, or an EAS
    # signature (client.set_token)": a client's fix, where the cell gave the URL
    shell.user_ns["u"] = affine.url + "?token=wrong"
    shell.user_ns["x1"] = np.ones((1, 4), np.float32)
    line = failing(shell, capsys, "%%eas predict {u} out\n{'x': x1}")
    assert "wrong token for service 'nb_affine'" in line, line
    assert line.endswith(
        "(the token given with this URL is not service 'nb_affine''s: predict the service by "
        "its name, %%eas predict nb_affine, which sends its own token, or give the right one "
        "as ?token={token} from a variable)"
    ), line
    # the same for a bench of that URL: refused when the signature is read, before sending
    line = failing(shell, capsys, "%eas bench u --body x1 -n 3 -c 1")
    assert "wrong token for service 'nb_affine'" in line, line
    assert "%%eas predict nb_affine, which sends its own token" in line, line
