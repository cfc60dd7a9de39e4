"""The panel's server side in a real Jupyter Server on loopback: who may call it, what it shows.

Jupyter's own checks guard ``/easlab-lab/api``: without the login (Jupyter's
token or its cookie) a call is refused, and a POST — every action, revealing a
service token included — needs Jupyter's XSRF token as well. The kernel's admin
token never reaches the browser: not in an answer, not in the page or the
panel's scripts; a service's token only in the answer of the explicit reveal.
"""

from __future__ import annotations

import pytest
import requests

from tests.lab.lab_server import LABEXTENSION, kernel_client

SERVICE_TOKEN = "secure-svc-token-123456"


def _login(lab) -> requests.Session:
    """A browser-like session: Jupyter's login cookie and its _xsrf cookie, no token header."""
    s = requests.Session()
    r = s.get(f"{lab['url']}/lab?token={lab['token']}", timeout=30)
    assert r.status_code == 200 and "_xsrf" in s.cookies, r.status_code
    return s


def _xsrf(s: requests.Session) -> dict[str, str]:
    return {"X-XSRFToken": s.cookies["_xsrf"]}


@pytest.mark.timeout(240)
def test_calls_need_login_and_xsrf_and_no_token_leaks(lab, app_dir):
    api = f"{lab['url']}/easlab-lab/api"
    browser = _login(lab)
    started = browser.post(f"{api}/kernel", headers=_xsrf(browser), timeout=120)
    assert started.status_code == 200, started.text
    kernel = kernel_client(lab["home"])
    admin = kernel.admin_token
    assert admin and len(admin) >= 16
    kernel.create(
        {
            "name": "secure_svc",
            "token": SERVICE_TOKEN,
            "processor_type": "python",
            "processor_path": str(app_dir),
            "processor_entry": "app.py",
            "metadata": {"instance": 1},
        }
    )
    bodies: list[str] = [started.text]

    # no login at all: the API refuses (403), a page sends to the login form
    anonymous = requests.Session()
    r = anonymous.get(f"{api}/state", timeout=10)
    assert r.status_code == 403 and "secure_svc" not in r.text
    page = anonymous.get(f"{lab['url']}/lab", allow_redirects=False, timeout=10)
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    for action, body in (("stop", "{}"), ("scale", '{"instances": 2}'), ("delete", "{}")):
        r = anonymous.post(f"{api}/services/secure_svc/{action}", data=body, timeout=10)
        assert r.status_code == 403, (action, r.status_code)
        # a wrong Jupyter token is no login either
        r = anonymous.post(
            f"{api}/services/secure_svc/{action}",
            data=body,
            headers={"Authorization": "token not-the-jupyter-token"},
            timeout=10,
        )
        assert r.status_code == 403, (action, r.status_code)
        # logged in (the cookie) but without the XSRF token: a cross-site form post
        r = browser.post(f"{api}/services/secure_svc/{action}", data=body, timeout=10)
        assert r.status_code == 403, (action, r.status_code)
        bodies.append(r.text)
    r = browser.post(f"{api}/services/secure_svc/token", timeout=10)
    assert r.status_code == 403 and SERVICE_TOKEN not in r.text
    # a wrong XSRF token, and the right one from another origin (a page elsewhere)
    r = browser.post(
        f"{api}/services/secure_svc/token", headers={"X-XSRFToken": "forged"}, timeout=10
    )
    assert r.status_code == 403 and SERVICE_TOKEN not in r.text
    for path in ("services/secure_svc/token", "services/secure_svc/delete", "kernel"):
        r = browser.post(
            f"{api}/{path}",
            headers={**_xsrf(browser), "Origin": "http://evil.example"},
            timeout=10,
        )
        assert r.status_code in (403, 404) and SERVICE_TOKEN not in r.text, (path, r.text)
        assert "Access-Control-Allow-Origin" not in r.headers
    r = browser.get(f"{api}/state", headers={"Origin": "http://evil.example"}, timeout=10)
    assert r.status_code in (403, 404) and "secure_svc" not in r.text
    # a token is revealed by POST only: a GET (a link, an <img>) is not an action
    r = browser.get(f"{api}/services/secure_svc/token", timeout=10)
    assert r.status_code == 405 and SERVICE_TOKEN not in r.text
    assert [s["status"] for s in kernel.list()] == ["Running"]  # nothing above took effect

    # with the cookie and the XSRF header, as the panel sends them
    state = browser.get(f"{api}/state", timeout=30)
    assert state.status_code == 200
    (row,) = state.json()["services"]
    assert row["name"] == "secure_svc" and row["has_token"] is True and "token" not in row
    bodies.append(state.text)
    for action, body in (("scale", '{"instances": 2}'), ("workers", "{}"), ("stop", "{}")):
        r = browser.post(
            f"{api}/services/secure_svc/{action}", data=body, headers=_xsrf(browser), timeout=120
        )
        assert r.status_code == 200, (action, r.text)
        bodies.append(r.text)
    assert kernel.describe("secure_svc")["status"] == "Stopped"
    r = browser.post(f"{api}/services/secure_svc/start", headers=_xsrf(browser), timeout=120)
    assert r.status_code == 200 and r.json()["status"] == "Running", r.text
    bodies.append(r.text)

    # the page and the panel's scripts, as the browser loads them
    lab_page = browser.get(f"{lab['url']}/lab", timeout=30)
    bodies.append(lab_page.text)
    assert lab_page.status_code == 200 and "easlab-lab" in lab_page.text
    scripts = sorted((LABEXTENSION / "static").glob("*.js"))
    assert scripts
    for script in scripts:
        r = browser.get(f"{lab['url']}/lab/extensions/easlab-lab/static/{script.name}", timeout=30)
        assert r.status_code == 200, script.name
        bodies.append(r.text)

    for text in bodies:
        assert admin not in text
        assert SERVICE_TOKEN not in text
    # nor in the Jupyter server's log, which also holds the kernel it started (POST /kernel)
    assert admin not in lab["log"].read_text()

    # the one answer that carries a service token: the explicit reveal
    revealed = browser.post(f"{api}/services/secure_svc/token", headers=_xsrf(browser), timeout=30)
    assert revealed.status_code == 200
    assert revealed.json() == {"name": "secure_svc", "token": SERVICE_TOKEN}
    assert admin not in revealed.text

    deleted = browser.post(f"{api}/services/secure_svc/delete", headers=_xsrf(browser), timeout=60)
    assert deleted.json() == {"deleted": "secure_svc"}
    assert kernel.list() == []
