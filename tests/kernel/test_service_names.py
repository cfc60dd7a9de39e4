"""Service names at the control API.

``NAME_RE`` used ``$``, which matches before a final newline, so ``"echo\\n"``
became a second service printed as ``echo``; no length was checked, so a
300-character name failed to save its record (500, "File name too long") after
the service was already in the kernel's table: it stayed "Creating" for good
and its DELETE answered 500 too. Now the name is refused with a 400 naming the
field and the rule, and a create whose record cannot be saved leaves nothing.
"""

from __future__ import annotations

import asyncio
import errno
from urllib.parse import quote

import pytest
import requests
from kernel_helpers import app_spec

from easlab.kernel.control import ControlError, Kernel


def _spec(name: str, folder) -> dict:
    return app_spec(name, folder, instance=0)  # nothing to start: the tests are about the name


@pytest.fixture(scope="module")
def app_folder(make_app):
    from kernel_helpers import ECHO_APP

    return make_app("names", ECHO_APP)


def _api(kernel, method: str, path: str, body: dict | None = None) -> requests.Response:
    return requests.request(
        method,
        f"{kernel.endpoint}/easlab/v1{path}",
        json=body,
        headers=kernel.admin_headers(),
        timeout=30,
    )


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("echo\n", "'echo\\n' is not a valid service name"),
        ("echo\r\n", "is not a valid service name"),
        ("a" * 64, "64 characters long; a service name has at most 63"),
        ("a" * 300, "300 characters long; a service name has at most 63"),
    ],
    ids=["newline", "crlf", "64-chars", "300-chars"],
)
def test_a_bad_name_is_a_400_naming_the_field_and_nothing_is_made(
    kernel, app_folder, name, fragment
):
    resp = _api(kernel, "POST", "/services", {"spec": _spec(name, app_folder)})
    assert resp.status_code == 400, resp.text
    answer = resp.json()
    assert answer["field"] == "name"
    assert answer["error"].startswith("name: ") and fragment in answer["error"]
    listed = [s["name"] for s in _api(kernel, "GET", "/services").json()["services"]]
    assert name not in listed and name.strip() not in listed
    # nothing half-made for DELETE to trip on: a plain 404
    assert _api(kernel, "DELETE", "/services/" + quote(name, safe="")).status_code == 404


def test_a_queue_service_name_follows_the_same_rule(kernel):
    spec = {"name": "q" * 64, "metadata": {"type": "Queue"}}
    resp = _api(kernel, "POST", "/services", {"spec": spec})
    assert resp.status_code == 400 and resp.json()["field"] == "name"
    assert "at most 63" in resp.json()["error"]


def test_a_name_of_63_characters_is_created_and_deleted(kernel, app_folder):
    name = "n" * 63
    resp = _api(kernel, "POST", "/services", {"spec": _spec(name, app_folder)})
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "Running"
    assert _api(kernel, "DELETE", f"/services/{name}").status_code == 200


def test_a_blue_green_sibling_that_would_be_too_long_is_refused_up_front(kernel, app_folder):
    name = "g" * 60
    assert _api(kernel, "POST", "/services", {"spec": _spec(name, app_folder)}).status_code == 200
    try:
        resp = _api(
            kernel, "POST", "/services", {"spec": _spec(name, app_folder), "blue_green": True}
        )
        assert resp.status_code == 400 and resp.json()["field"] == "name"
        assert "at most 58 characters can have one" in resp.json()["error"]
        listed = [s["name"] for s in _api(kernel, "GET", "/services").json()["services"]]
        assert [n for n in listed if n.startswith(name)] == [name]
    finally:
        _api(kernel, "DELETE", f"/services/{name}")


def test_a_record_that_cannot_be_saved_leaves_no_service_behind(tmp_path, app_folder):
    """The record is written before the service enters the kernel's tables."""

    async def main() -> None:
        kernel = Kernel(tmp_path, asyncio.get_running_loop())
        seen: list[bool] = []

        def save(name, spec, token, running=True, **fields):
            seen.append(name in kernel.services or name in kernel.router.routes)
            raise OSError(errno.ENOSPC, "No space left on device")

        kernel.records.save = save  # type: ignore[method-assign]
        with pytest.raises(ControlError) as info:
            await kernel.create({"spec": _spec("nospace", app_folder)})
        assert info.value.status == 500
        assert info.value.message == (
            f"cannot save the record of service 'nospace' in {tmp_path / 'services'}: "
            "No space left on device; nothing was created"
        )
        assert seen == [False]  # not in the tables while its record was being saved
        assert "nospace" not in kernel.services and "nospace" not in kernel.router.routes
        assert not kernel._lock("nospace").locked()
        assert not (tmp_path / "logs" / "nospace.log").exists()

    asyncio.run(main())


def test_a_failure_after_the_save_unmakes_the_service(tmp_path, app_folder, monkeypatch):
    async def main() -> None:
        kernel = Kernel(tmp_path, asyncio.get_running_loop())

        def broken(service):
            raise RuntimeError("a bug while recording")

        monkeypatch.setattr(kernel, "_record", broken)
        with pytest.raises(RuntimeError):
            await kernel.create({"spec": _spec("unmade", app_folder)})
        assert "unmade" not in kernel.services and "unmade" not in kernel.router.routes
        assert not (tmp_path / "services" / "unmade.json").exists()
        # and the name is free again
        monkeypatch.undo()
        desc = await kernel.create({"spec": _spec("unmade", app_folder)})
        assert desc["status"] == "Running"
        assert (tmp_path / "services" / "unmade.json").exists()
        await kernel.delete(kernel.services["unmade"])

    asyncio.run(main())
