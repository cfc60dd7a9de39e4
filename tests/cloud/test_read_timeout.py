"""The PAI-EAS API's read timeout: ``--pai-timeout``, ``$EASLAB_PAI_TIMEOUT``,
``connect(target="pai", pai_timeout=...)``. Before, only ``PaiClient(timeout=)`` set it:
from the CLI, the magic or ``connect`` a slow API call waited 60 s, and the error named
no way to wait longer or shorter."""

from __future__ import annotations

import threading

import pytest

from easlab.cli import main
from easlab.cloud.client import TIMEOUT_ENV, PaiClient
from easlab.cloud.errors import PaiError, PaiSetupError


@pytest.fixture
def slow(eas):
    """The stand-in holds every call until the test releases it."""
    standin, host = eas
    standin.hold = threading.Event()
    yield standin, host
    standin.hold.set()


def test_the_cli_flag_bounds_a_slow_call_and_the_error_says_how_to_change_it(slow, capsys):
    standin, host = slow
    argv = ["ls", "--target", "pai", "--region", "cn-hangzhou", "--pai-endpoint", host]
    assert main([*argv, "--pai-timeout", "0.3"]) == 1
    err = capsys.readouterr().err
    assert f"no answer from http://{host} within 0.3 s (the API's read timeout)" in err, err
    assert "--pai-timeout" in err and TIMEOUT_ENV in err
    assert len(standin.requests) == 1  # a timed-out read is not tried again


def test_the_variable_sets_it_and_connect_takes_it(slow, monkeypatch):
    from easlab.client.connect import connect

    standin, host = slow
    monkeypatch.setenv(TIMEOUT_ENV, "0.25")
    client = connect(target="pai", region="cn-hangzhou", pai_endpoint=host)
    assert client.timeout == 0.25
    with pytest.raises(PaiError, match=r"within 0\.25 s \(the API's read timeout\)"):
        client.list()
    # the argument wins over the variable
    assert connect(target="pai", region="cn-hangzhou", pai_timeout=7).timeout == 7
    monkeypatch.delenv(TIMEOUT_ENV)
    assert PaiClient("cn-hangzhou").timeout == 60  # the default


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf"])
def test_a_timeout_that_is_no_number_of_seconds_is_refused_naming_where_it_came_from(
    test_credentials, monkeypatch, value
):
    monkeypatch.setenv(TIMEOUT_ENV, value)
    with pytest.raises(PaiSetupError, match=rf"\${TIMEOUT_ENV}={value}: .*seconds"):
        PaiClient("cn-hangzhou")
    monkeypatch.delenv(TIMEOUT_ENV)
    with pytest.raises(PaiSetupError, match=r"--pai-timeout"):
        PaiClient("cn-hangzhou", timeout=0)


def test_the_magic_takes_it_for_every_call_and_for_one(slow):
    from IPython.core.interactiveshell import InteractiveShell

    from easlab.notebook.magics import EasMagicError

    standin, host = slow
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "easlab")
    try:
        target = f"target pai --region cn-hangzhou --pai-endpoint {host}"
        ip.run_line_magic("eas", f"{target} --pai-timeout 0.3")
        with pytest.raises(EasMagicError, match=r"within 0\.3 s \(the API's read timeout\)"):
            ip.run_line_magic("eas", "ls")
        with pytest.raises(EasMagicError, match=r"within 0\.2 s"):  # one call's own
            ip.run_line_magic("eas", "ls --pai-timeout 0.2")
        with pytest.raises(EasMagicError, match="--pai-timeout -1 is not a number of seconds"):
            ip.run_line_magic("eas", f"{target} --pai-timeout -1")
        assert len(standin.requests) == 2
    finally:
        ip.run_line_magic("eas", "target local")
        ip.run_line_magic("unload_ext", "easlab")
