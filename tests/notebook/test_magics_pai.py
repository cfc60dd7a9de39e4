"""``%eas`` on PAI-EAS against the cloud stand-ins (tests/cloud): the region shown, the
per-verb ``--target pai``, ``%eas target local`` forgetting the cloud settings, and the
upload progress of ``%%eas create``."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from easlab.notebook.magics import EasMagic, EasMagicError

pytest.importorskip("alibabacloud_eas20210701")


def _cloud_fixtures() -> Any:
    """tests/cloud/conftest.py (the EAS and OSS stand-ins, the test credentials), whose
    fixtures pytest offers only to the tests under tests/cloud."""
    cloud = Path(__file__).parents[1] / "cloud"
    if str(cloud) not in sys.path:
        sys.path.insert(0, str(cloud))  # its conftest imports eas_standin, oss_standin
    spec = importlib.util.spec_from_file_location("_cloud_conftest", cloud / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_cloud = _cloud_fixtures()
test_credentials, eas, oss = _cloud.test_credentials, _cloud.eas, _cloud.oss

SPEC = """
name: mnist
model_path: oss://models/mnist.tar.gz
oss_endpoint: oss-cn-hangzhou-internal.aliyuncs.com
processor: tensorflow_cpu_1.15
metadata:
  instance: 1
"""


@pytest.fixture
def shell(eas) -> Any:
    """The process's IPython shell with easlab loaded, left aimed at the local kernel."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "easlab")
    yield ip
    ip.run_line_magic("eas", "target local")


@pytest.fixture
def shown(shell) -> Any:
    """What the magics display (each display's data dict), in order."""
    seen: list[dict[str, Any]] = []
    shell.display_pub.publish = lambda data, **kw: seen.append(data)  # type: ignore[method-assign]
    yield seen
    del shell.display_pub.publish


def magic(shell: Any) -> EasMagic:
    return next(m for m in shell.configurables if isinstance(m, EasMagic))


def test_desc_and_create_show_the_pai_region_not_local(shell, eas, shown):
    _, host = eas
    shell.run_line_magic("eas", f"target pai --region cn-hangzhou --pai-endpoint {host}")
    shell.run_cell_magic("eas", "create svc --timeout 10", SPEC)
    assert shell.user_ns["svc"].desc["region"] == "cn-hangzhou"
    created = shown[-1]["text/plain"]
    assert "region: cn-hangzhou" in created and "region: local" not in created
    shell.run_line_magic("eas", "desc mnist d")
    desc = repr(shell.user_ns["d"])
    assert "region: cn-hangzhou" in desc and "region: local" not in desc
    assert "<td style='text-align:left'>cn-hangzhou</td>" in shell.user_ns["d"]._repr_html_()


def test_the_region_row_reads_the_description_first():
    from easlab.notebook.display import ServiceSummary

    rows = dict(ServiceSummary({"name": "m", "region": "cn-shanghai"}).rows())
    assert rows["region"] == "cn-shanghai"
    spec = {"metadata": {"region": "cn-beijing"}}
    assert dict(ServiceSummary({"spec": spec}).rows())["region"] == "cn-beijing"
    assert dict(ServiceSummary({"name": "m"}).rows())["region"] == "local"


def test_per_verb_target_pai_uses_the_configured_region(shell, eas):
    standin, host = eas
    shell.run_line_magic("eas", f"target pai --region cn-hangzhou --pai-endpoint {host}")
    shell.run_cell_magic("eas", "create --timeout 10", SPEC)
    shell.run_line_magic("eas", "ls df --target pai")  # was read as the kernel URL http://pai
    assert list(shell.user_ns["df"]["NAME"]) == ["mnist"]
    assert standin.actions().count("ListServices") == 1


def test_per_verb_target_pai_with_its_region_from_a_local_notebook(shell, eas):
    _, host = eas
    shell.run_line_magic("eas", f"target pai --region cn-hangzhou --pai-endpoint {host}")
    shell.run_cell_magic("eas", "create --timeout 10", SPEC)
    shell.run_line_magic("eas", "target local")
    shell.run_line_magic("eas", f"ls df --target pai --region cn-hangzhou --pai-endpoint {host}")
    assert list(shell.user_ns["df"]["NAME"]) == ["mnist"]
    shell.run_line_magic(
        "eas", f"desc mnist d --target pai --region cn-hangzhou --pai-endpoint {host}"
    )
    assert shell.user_ns["d"]["region"] == "cn-hangzhou"
    assert magic(shell).target == "local"  # one call's target, not the notebook's


def test_per_verb_target_pai_without_a_region_says_how(shell, monkeypatch):
    monkeypatch.delenv("ALIBABA_CLOUD_REGION_ID", raising=False)
    shell.run_line_magic("eas", "target local")
    with pytest.raises(EasMagicError) as info:
        shell.run_line_magic("eas", "ls --target pai")
    message = info.value.message
    assert "http://pai" not in message and "no easlab kernel" not in message
    assert "--region cn-hangzhou" in message and "%eas target pai --region" in message


def test_per_verb_target_pai_takes_the_region_of_the_aliyun_cli_profile(
    shell, eas, tmp_path, monkeypatch
):
    """No --region and no %eas target pai: the aliyun CLI's profile names it (HOME is
    tmp_path: the test credentials' fixture, which turns the profile off for the keys)."""
    standin, host = eas
    monkeypatch.delenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED")
    (tmp_path / ".aliyun").mkdir()
    config = {"current": "default", "profiles": [{"name": "default", "region_id": "cn-hangzhou"}]}
    (tmp_path / ".aliyun" / "config.json").write_text(json.dumps(config))
    shell.run_line_magic("eas", "target local")
    shell.run_line_magic("eas", f"ls df --target pai --pai-endpoint {host}")
    assert standin.actions() == ["ListServices"]
    (tmp_path / ".aliyun" / "config.json").write_text("{not json")
    with pytest.raises(EasMagicError) as info:
        shell.run_line_magic("eas", f"ls df --target pai --pai-endpoint {host}")
    assert (
        "--region cn-hangzhou" in info.value.message and "is not valid JSON" in info.value.message
    )


def test_pai_options_without_target_pai_are_refused(shell):
    shell.run_line_magic("eas", "target local")
    with pytest.raises(EasMagicError, match="--region is for PAI-EAS.*--target pai"):
        shell.run_line_magic("eas", "ls --region cn-hangzhou")


def test_target_local_forgets_the_cloud_settings(shell, eas):
    _, host = eas
    said = shell.run_line_magic(
        "eas", f"target pai --region cn-hangzhou --pai-endpoint {host} --oss oss://models/x"
    )
    assert said == "%eas talks to pai://cn-hangzhou (uploads to oss://models/x)"
    assert shell.run_line_magic("eas", "target local") == "%eas talks to local"
    assert (magic(shell).oss, magic(shell).pai_endpoint) == ("", "")
    assert shell.run_line_magic("eas", "target") == "%eas talks to local"
    url = "http://127.0.0.1:9"
    shell.run_line_magic("eas", "target pai --region cn-hangzhou --oss oss://models/x")
    assert shell.run_line_magic("eas", f"target {url}") == f"%eas talks to {url}"
    assert magic(shell).oss == ""


def test_target_changes_one_pai_setting_and_refuses_them_elsewhere(shell):
    shell.run_line_magic("eas", "target pai --region cn-hangzhou")
    said = shell.run_line_magic("eas", "target --oss oss://models/y")
    assert said == "%eas talks to pai://cn-hangzhou (uploads to oss://models/y)"
    shell.run_line_magic("eas", "target local")
    with pytest.raises(EasMagicError, match="are for PAI-EAS"):
        shell.run_line_magic("eas", "target --oss oss://models/y")


def test_create_shows_upload_progress_in_the_cell(shell, eas, oss, shown, tmp_path, monkeypatch):
    standin, host = eas
    monkeypatch.setenv("EASLAB_OSS_ENDPOINT", oss[1])
    model = tmp_path / "echo"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"\1" * 300_000)
    shell.user_ns["model_dir"] = str(model)
    shell.run_line_magic(
        "eas", f"target pai --region cn-hangzhou --pai-endpoint {host} --oss oss://models/easlab"
    )
    shell.run_cell_magic(
        "eas",
        "create --timeout 10",
        "name: up\nprocessor: pmml\nmodel_path: $model_dir\nmetadata:\n  instance: 1\n",
    )
    assert len(oss[0].puts) == 1
    bars = [d for d in shown if "Upload" in d.get("text/plain", "")]
    assert bars, shown
    last = bars[-1]
    assert last["text/plain"].startswith("Uploaded oss://models/easlab/")
    assert f"/echo.tar.gz [{'#' * 30}] 100% (" in last["text/plain"]
    assert "<progress value=" in last["text/html"] and "✔ Uploaded" in last["text/html"]


def test_the_upload_line_redraws_in_place(monkeypatch):
    from easlab.notebook.upload_progress import UploadProgress

    class Handle:
        def __init__(self, line: Any) -> None:
            self.lines = [line]

        def update(self, line: Any) -> None:
            self.lines.append(line)

    handles: list[Handle] = []

    def display(line: Any, display_id: bool = False) -> Handle:
        assert display_id
        handles.append(Handle(line))
        return handles[-1]

    class Upload:
        uri = "oss://b/p/abc/m.tar.gz"

    progress = UploadProgress(display)
    monkeypatch.setattr(UploadProgress, "INTERVAL_S", 3600.0)
    for sent in range(0, 2 * 1024 * 1024 + 1, 64 * 1024):
        progress(Upload(), sent, 2 * 1024 * 1024)
    assert len(handles) == 1  # one line for the file
    first, last = handles[0].lines[0], handles[0].lines[-1]
    assert len(handles[0].lines) == 2  # the first report, then the last (throttled between)
    assert repr(first).startswith("Uploading oss://b/p/abc/m.tar.gz [....")
    assert repr(first).endswith("0% (0 B of 2.0 MiB)")
    assert repr(last) == f"Uploaded oss://b/p/abc/m.tar.gz [{'#' * 30}] 100% (2.0 MiB)"
    assert "<progress value='0' max='2097152'" in first._repr_html_()


def test_an_object_already_on_oss_is_said_to_be_so():
    from easlab.notebook.upload_progress import UploadProgress

    lines: list[Any] = []

    class Upload:
        uri = "oss://b/p/abc/m.tar.gz"
        existed = True

    UploadProgress(lambda line, display_id: lines.append(line))(Upload(), 2048, 2048)
    assert [repr(x) for x in lines] == [
        "Already on OSS, not uploaded again: oss://b/p/abc/m.tar.gz (2.0 KiB)"
    ]
    assert "Uploaded" not in lines[0]._repr_html_()


def test_target_pai_without_region_takes_the_environments_or_profiles(shell, monkeypatch, tmp_path):
    """`%eas target pai` alone was refused although a per-call --target pai took
    $EASLAB_PAI_REGION or the aliyun CLI's profile; both now read the same places."""
    monkeypatch.delenv("ALIBABA_CLOUD_REGION_ID", raising=False)
    monkeypatch.setenv("EASLAB_PAI_REGION", "cn-beijing")
    shown = shell.run_line_magic("eas", "target pai")
    assert magic(shell).target == "pai://cn-beijing"
    assert "region from $EASLAB_PAI_REGION" in str(shown)
    monkeypatch.delenv("EASLAB_PAI_REGION")
    monkeypatch.delenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED")  # the profile's region is read
    (tmp_path / ".aliyun").mkdir(exist_ok=True)
    config = {"current": "default", "profiles": [{"name": "default", "region_id": "cn-shanghai"}]}
    (tmp_path / ".aliyun" / "config.json").write_text(json.dumps(config))
    shell.run_line_magic("eas", "target pai")
    assert magic(shell).target == "pai://cn-shanghai"
    (tmp_path / ".aliyun" / "config.json").unlink()
    with pytest.raises(EasMagicError, match="needs a region: --region cn-hangzhou"):
        shell.run_line_magic("eas", "target pai")
    shell.run_line_magic("eas", "target local")
