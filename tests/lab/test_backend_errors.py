"""The panel's server side when the kernel refuses it or the browser sends nonsense:
a JSON ``{"error": ...}`` the panel can show, never a bare 500."""

from __future__ import annotations

import pytest

from easlab.client.control import KernelClient
from easlab.errors import EaslabError
from easlab.lab.backend import PanelBackend, PanelError
from tests.lab.test_panel_security import _login, _xsrf


def test_a_stale_admin_token_is_a_panel_error_that_says_so(kernel):
    # the runtime file the Jupyter server read belongs to an earlier kernel on that port
    stale = KernelClient(kernel.endpoint, admin_token="stale-admin-token-0000")
    backend = PanelBackend(lambda start: stale)
    with pytest.raises(PanelError) as err:
        backend.state()
    # 502, not the kernel's 401: the browser's Jupyter login is fine
    assert err.value.status == 502
    assert "wrong admin token" in err.value.message and "EASLAB_ADMIN_TOKEN" in err.value.message
    with pytest.raises(PanelError) as err:
        backend.act("anything", "token", {})
    assert err.value.status == 502 and "admin token" in err.value.message


def test_a_kernel_that_cannot_start_is_a_panel_error():
    def broken(start: bool):
        raise EaslabError("the kernel did not come up in 30 s: see its log")

    with pytest.raises(PanelError) as err:
        PanelBackend(broken).start_kernel()
    assert err.value.status == 502 and "did not come up" in err.value.message


@pytest.mark.timeout(240)
def test_bad_requests_answer_json_errors(lab):
    api = f"{lab['url']}/easlab-lab/api"
    browser = _login(lab)
    r = browser.get(f"{api}/state?window=abc", timeout=30)
    assert r.status_code == 400 and "window must be whole seconds" in r.json()["error"]
    for body in ("{not json", "[1, 2]"):
        r = browser.post(f"{api}/services/x/scale", data=body, headers=_xsrf(browser), timeout=30)
        assert r.status_code == 400, (body, r.status_code, r.text)
        assert "must be a JSON object" in r.json()["error"]
    # no kernel runs in this lab yet: an action says so, as JSON
    r = browser.post(f"{api}/services/x/stop", data="{}", headers=_xsrf(browser), timeout=30)
    assert r.status_code == 503 and "kernel" in r.json()["error"]
