"""``%eas target pai --region R``: the notebook's verbs against the EAS stand-in."""

from __future__ import annotations

import pytest

SPEC = """
name: mnist
model_path: oss://models/mnist.tar.gz
oss_endpoint: oss-cn-hangzhou-internal.aliyuncs.com
processor: tensorflow_cpu_1.15
metadata:
  instance: 1
"""


@pytest.fixture
def shell(eas):
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "easlab")
    yield ip
    ip.run_line_magic("eas", "target local")
    ip.run_line_magic("unload_ext", "easlab")


def test_target_pai_then_the_verbs(shell, eas):
    standin, host = eas
    said = shell.run_line_magic("eas", f"target pai --region cn-hangzhou --pai-endpoint {host}")
    assert said == "%eas talks to pai://cn-hangzhou"
    shell.run_cell_magic("eas", "create svc --timeout 10", SPEC)
    svc = shell.user_ns["svc"]
    assert svc.status == "Running" and svc.desc["region"] == "cn-hangzhou"
    assert "CreateService" in standin.actions()
    shell.run_line_magic("eas", "ls df")
    assert list(shell.user_ns["df"]["NAME"]) == ["mnist"]
    shell.run_line_magic("eas", "desc mnist d")
    assert shell.user_ns["d"]["status"] == "Running"
    shell.run_line_magic("eas", "release mnist -w 10")
    assert standin.services["mnist"]["Weight"] == 10
    plan = shell.run_cell_magic("eas", "create --dry-run", SPEC.replace("mnist", "mnist2"))
    assert "CreateService on PAI-EAS cn-hangzhou" in str(plan)
    shell.run_line_magic("eas", "delete mnist")
    assert standin.services == {}


def test_target_pai_without_region_is_one_line(shell):
    from easlab.notebook.magics import EasMagicError

    with pytest.raises(EasMagicError, match="--region"):
        shell.run_line_magic("eas", "target pai")


def test_create_of_a_taken_name_uploads_nothing(shell, eas, oss, monkeypatch, tmp_path):
    from easlab.notebook.magics import EasMagicError

    standin, host = eas
    monkeypatch.setenv("EASLAB_OSS_ENDPOINT", oss[1])
    shell.run_line_magic(
        "eas", f"target pai --region cn-hangzhou --pai-endpoint {host} --oss oss://models/x"
    )
    shell.run_cell_magic("eas", "create --timeout 10", SPEC)
    (tmp_path / "saved_model.pb").write_bytes(b"\0" * 1024)
    local = SPEC.replace("oss://models/mnist.tar.gz", str(tmp_path)).replace(
        "oss_endpoint: oss-cn-hangzhou-internal.aliyuncs.com\n", ""
    )
    with pytest.raises(EasMagicError) as info:
        shell.run_cell_magic("eas", "create --timeout 10", local)
    assert "already exists" in str(info.value) and "modify" in str(info.value)
    assert oss[0].requests == [] and standin.actions().count("CreateService") == 1


#: the JSON deployment page's form: the name in metadata, a custom image
IMAGE_SPEC = """
metadata:
  name: demo
  instance: 1
  workspace_id: "123456"
containers:
  - image: registry.cn-hangzhou.aliyuncs.com/me/app:1
    script: python app.py
    port: 8000
"""


def test_the_verbs_of_a_service_named_in_metadata(shell, eas):
    standin, host = eas
    shell.run_line_magic("eas", f"target pai --region cn-hangzhou --pai-endpoint {host}")
    shell.run_cell_magic("eas", "create svc --timeout 10", IMAGE_SPEC)
    assert shell.user_ns["svc"].name == "demo" and shell.user_ns["svc"].status == "Running"
    # the cell's progress asked for the service the file names, and no other
    asked = {r.path.rsplit("/", 1)[-1] for r in standin.requests if r.action == "DescribeService"}
    assert asked == {"demo"}
    shell.run_line_magic("eas", "modify demo -Dmetadata.instance=2 --timeout 10")
    assert standin.services["demo"]["TotalInstance"] == 2
    shell.run_line_magic("eas", "desc demo d")
    assert shell.user_ns["d"]["spec"]["metadata"]["name"] == "demo"
    shell.run_line_magic("eas", "delete demo")
    assert standin.services == {}


def test_the_progress_line_of_a_create_names_the_service_named_in_metadata():
    # the line shown while a create waits ("demo: Running, 1/1 ...") said "service:"
    from easlab.notebook.magics import _spec_name

    assert _spec_name(IMAGE_SPEC) == "demo"
    assert _spec_name(SPEC) == "mnist"
