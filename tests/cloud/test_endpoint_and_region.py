"""A region or endpoint that cannot be right is refused before anything is built or sent,
saying what goes where; an endpoint's user:password never shows. Nothing here reaches a
network: each value is refused (or taken) by PaiClient itself."""

from __future__ import annotations

import pytest

from easlab.cli import main
from easlab.cloud.client import PaiClient
from easlab.cloud.errors import PaiSetupError


@pytest.mark.parametrize(
    ("region", "said"),
    [
        ("CN-Hangzhou", "in lowercase with hyphens: cn-hangzhou"),
        ("cn hangzhou", "in lowercase with hyphens: cn-hangzhou"),
        ("pai-eas.cn-hangzhou.aliyuncs.com", "goes in --pai-endpoint"),
        ("https://pai-eas.cn-hangzhou.aliyuncs.com", "goes in --pai-endpoint"),
        ("hangzhou", "a region ID such as cn-hangzhou"),
    ],
)
def test_a_value_that_is_no_region_id_says_what_a_region_is(region, said):
    with pytest.raises(PaiSetupError) as info:
        PaiClient(region)
    assert f"{region!r} is not a region" in str(info.value)
    assert said in str(info.value) and "cn-shanghai" in str(info.value)


def test_a_region_easlab_does_not_list_yet_is_let_through():
    assert PaiClient("eu-west-1").endpoint == "https://pai-eas.eu-west-1.aliyuncs.com"


@pytest.mark.parametrize(
    "endpoint",
    ["pai-eas.cn-hangzhou.aliyuncs.com:abc", "https://x.example.com/api/", "x.example.com?a=1"],
)
def test_an_endpoint_with_more_than_host_and_port_is_refused(endpoint):
    with pytest.raises(PaiSetupError) as info:
        PaiClient("cn-hangzhou", endpoint=endpoint)
    assert "takes host[:port]" in str(info.value) and endpoint in str(info.value)


def test_an_endpoint_with_a_password_is_refused_without_showing_it(test_credentials, capsys):
    argv = ["ls", "--target", "pai", "--region", "cn-hangzhou"]
    code = main([*argv, "--pai-endpoint", "https://ram-user:Pa55word@pai-eas.example.com"])
    err = capsys.readouterr().err
    assert code == 1 and "takes host[:port]" in err
    assert "Pa55word" not in err


def test_a_trailing_slash_is_fine():
    client = PaiClient("cn-hangzhou", endpoint="https://pai-eas.cn-hangzhou.aliyuncs.com/")
    assert client.endpoint == "https://pai-eas.cn-hangzhou.aliyuncs.com"


def test_easlab_endpoint_pai_region_means_pai_eas_for_connect_the_cli_and_the_magic(
    eas, oss, monkeypatch, capsys, tmp_path
):
    """``$EASLAB_ENDPOINT=pai://cn-hangzhou`` was taken for a kernel URL: connect(),
    ``easlab ls`` and ``%eas ls`` said it was not an http:// URL, while
    ``--endpoint pai://cn-hangzhou`` and ``connect("pai://cn-hangzhou")`` worked. Now
    it means PAI-EAS in that region wherever no --target/--endpoint says otherwise."""
    from IPython.core.interactiveshell import InteractiveShell

    import easlab
    from easlab.cloud.client import PaiClient
    from easlab.errors import KernelNotRunning
    from easlab.notebook.magics import EasMagicError

    standin, host = eas
    standin.services["mnist"] = standin._new_service({"name": "mnist", "metadata": {}})
    monkeypatch.setenv("EASLAB_ENDPOINT", "pai://cn-hangzhou")
    monkeypatch.setenv("EASLAB_PAI_ENDPOINT", host)
    monkeypatch.setenv("EASLAB_OSS_ENDPOINT", oss[1])
    monkeypatch.setenv("EASLAB_HOME", str(tmp_path))  # no local kernel recorded

    client = easlab.connect()
    assert isinstance(client, PaiClient) and client.region == "cn-hangzhou"
    # the JupyterLab panel shows the local kernel: none runs here, and it says why
    with pytest.raises(KernelNotRunning, match=r"\$EASLAB_ENDPOINT names PAI-EAS, not a kernel"):
        easlab.connect(target="local")

    assert main(["ls"]) == 0
    out = capsys.readouterr().out
    assert "cn-hangzhou" in out and "mnist" in out
    # an explicit choice still wins over the environment
    code = main(["ls", "--endpoint", "http://127.0.0.1:9"])
    assert code == 1 and "cn-hangzhou" not in capsys.readouterr().out
    assert main(["ls", "--target", "local"]) == 1
    assert "$EASLAB_ENDPOINT names PAI-EAS, not a kernel" in capsys.readouterr().err

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "easlab")
    ip.run_line_magic("config", "EasMagic.target = ''")  # unset: the environment decides
    try:
        ip.run_line_magic("eas", "ls df")
        assert list(ip.user_ns["df"]["NAME"]) == ["mnist"]
        # "local" said outright is the local kernel (none runs here), not PAI-EAS
        ip.run_line_magic("eas", "target local")
        with pytest.raises(EasMagicError, match="names PAI-EAS, not a kernel"):
            ip.run_line_magic("eas", "ls")
    finally:
        ip.run_line_magic("unload_ext", "easlab")
