"""A kernel runs a bounded number of instance processes (all services together) and
of worker threads in each.

``"instance": 1000`` (a typo for 10) started a thousand worker processes and ran the
machine out of memory, kernel and all; ``99999999999999999999`` made the kernel grow
without bound. Past ``EASLAB_MAX_INSTANCES`` (default 8 per core, at least 64) a
create, a modify or a scale is refused with a 400 naming metadata.instance, and the
kernel and its other services carry on.
"""

from __future__ import annotations

import pytest
from kernel_helpers import ECHO_APP, app_spec, post

from easlab.client.local import LocalKernel
from easlab.errors import EaslabError

TOKEN = "cap-token-0123"


def spec(name: str, folder, instance) -> dict:
    return {**app_spec(name, folder, instance=instance), "token": TOKEN}


@pytest.fixture(scope="module")
def capped(easlab_home, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EASLAB_MAX_INSTANCES", "3")
        with LocalKernel(port=0, state_dir=tmp_path_factory.mktemp("capped")) as kernel:
            yield kernel


def test_instances_past_the_kernels_cap_are_refused_naming_the_field(capped, make_app):
    app = make_app("cap_echo", ECHO_APP)
    first = capped.create(spec("cap_a", app, 2))
    assert first.status == "Running"
    for asked in (2, 1000, 99999999999999999999):
        with pytest.raises(EaslabError) as refused:
            capped.create(spec("cap_b", app, asked))
        message = str(refused.value)
        assert "metadata.instance" in message
        assert f"asks for {asked} instance(s)" in message
        assert "at most 3, 2 of them held by other services" in message
        assert "EASLAB_MAX_INSTANCES" in message
    assert [s["name"] for s in capped.client.list()] == ["cap_a"]
    # the kernel and the service that fits carry on
    assert post(first.url, b"still here", TOKEN).content == b"still here"
    # a service's own instances do not count against it: 2 -> 3 fits, 3 -> 4 does not
    capped.client.modify("cap_a", set={"metadata.instance": 3})
    with pytest.raises(EaslabError, match=r"asks for 4 instance\(s\).*at most 3"):
        capped.client.modify("cap_a", set={"metadata.instance": 4})
    with pytest.raises(EaslabError, match="metadata.rpc.worker_threads"):
        capped.client.modify("cap_a", set={"metadata.rpc.worker_threads": 5000})
    # a stopped service holds none, and starting it takes them again
    capped.client.stop("cap_a")
    assert capped.create(spec("cap_b", app, 3)).status == "Running"
    with pytest.raises(EaslabError, match=r"asks for 3 instance\(s\).*3 of them held"):
        capped.client.start("cap_a")
    assert capped.client.describe("cap_a")["status"] == "Stopped"
    capped.client.stop("cap_b")
    assert capped.client.start("cap_a")["status"] == "Running"


def test_worker_threads_past_the_cap_are_refused(capped, make_app):
    app = make_app("cap_threads", ECHO_APP)
    doc = spec("cap_threads", app, 1)
    doc["metadata"]["rpc.worker_threads"] = 100000
    with pytest.raises(EaslabError) as refused:
        capped.create(doc)
    assert "metadata.rpc.worker_threads" in str(refused.value)
    assert "asks for 100000 worker threads in each instance" in str(refused.value)
    assert "at most 1024" in str(refused.value)
