"""The official eas_prediction client (its own venv) against the kernel, unchanged."""

from __future__ import annotations

import json

import pytest
from kernel_helpers import ECHO_APP

TOKEN = "tok-" + "x" * 8


@pytest.fixture(scope="module")
def official_echo(python_service):
    return python_service("official_echo", ECHO_APP)


def test_string_request_with_token_gateway_mode(kernel, official_echo, run_official):
    out = run_official(
        f"""
        import json
        from eas_prediction import PredictClient, StringRequest
        client = PredictClient({kernel.endpoint!r}, "official_echo")
        client.set_token({TOKEN!r})
        client.init()
        answers = [client.predict(StringRequest(b"hello %d" % i)).response_data.decode() for i in range(3)]
        bad = PredictClient({kernel.endpoint!r}, "official_echo")
        bad.set_token("wrong")
        bad.init()
        try:
            bad.predict(StringRequest(b"x"))
            code = None
        except Exception as exc:
            code = getattr(exc, "code", None)
        print(json.dumps({{"answers": answers, "bad": code}}))
        """
    )
    data = json.loads(out)
    assert data["answers"] == ["hello 0", "hello 1", "hello 2"]
    assert data["bad"] == 401


def test_string_request_direct_mode(kernel, official_echo, run_official):
    # the official client's direct mode wants host:port and asks the discovery URL
    hostport = kernel.endpoint.replace("http://", "")
    out = run_official(
        f"""
        from eas_prediction import PredictClient, StringRequest, ENDPOINT_TYPE_DIRECT
        client = PredictClient({hostport!r}, "official_echo")
        client.set_endpoint_type(ENDPOINT_TYPE_DIRECT)
        client.set_token({TOKEN!r})
        client.init()
        print(client.predict(StringRequest(b"direct hello")).response_data.decode())
        client.destroy()
        """
    )
    assert out.decode().strip().endswith("direct hello")
