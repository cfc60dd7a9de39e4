"""Versions (modify -s, version) and blue-green release (create -r, release -w)."""

from __future__ import annotations

import threading
from collections import Counter

import requests
from kernel_helpers import app_spec, post, wait_for

TOKEN = "tok-" + "x" * 8

TAGGED_APP = """
import allspark

class Tagged(allspark.BaseProcessor):
    def process(self, data):
        return b"%s:" + data, 200
"""


def tagged(make_app, tag: str):
    return make_app(f"tag_{tag}", TAGGED_APP.replace("%s", tag))


def spec(name, folder, **meta):
    return {**app_spec(name, folder, **meta), "token": TOKEN}


def test_modify_spec_makes_version_2_and_version_switches_back(kernel, make_app):
    svc = kernel.create(spec("ver_svc", tagged(make_app, "one")))
    assert post(svc.url, b"x", TOKEN).content == b"one:x"
    pid1 = kernel.client.workers("ver_svc")[0]["pid"]

    # a partial update without model/processor fields: same version
    desc = kernel.client.modify("ver_svc", spec={"metadata": {"rpc.keepalive": 3000}})
    assert desc["current_version"] == 1 and desc["latest_version"] == 1
    assert kernel.client.workers("ver_svc")[0]["pid"] == pid1

    desc = kernel.client.modify("ver_svc", spec={"processor_path": str(tagged(make_app, "two"))})
    assert desc["status"] == "Running"
    assert desc["current_version"] == 2 and desc["latest_version"] == 2
    assert post(svc.url, b"x", TOKEN).content == b"two:x"
    assert [w["version"] for w in kernel.client.workers("ver_svc")] == [2]

    desc = kernel.client.version("ver_svc", 1)
    assert desc["current_version"] == 1 and desc["latest_version"] == 2
    assert post(svc.url, b"x", TOKEN).content == b"one:x"
    assert desc["spec"]["metadata"]["rpc.keepalive"] == 3000

    resp = requests.post(
        kernel.endpoint + "/easlab/v1/services/ver_svc/version",
        json={"version": 9},
        headers=kernel.admin_headers(),
        timeout=10,
    )
    assert resp.status_code == 404 and "no version 9" in resp.json()["error"]


def test_failed_new_version_keeps_the_old_one_serving(kernel, make_app):
    svc = kernel.create(spec("ver_keep", tagged(make_app, "old")))
    broken = make_app("broken", "import allspark\nraise SystemExit('broken build')\n")
    desc = kernel.client.modify("ver_keep", spec={"processor_path": str(broken)})
    assert desc["status"] == "Running" and desc["current_version"] == 1
    assert "version 2 failed" in desc["message"]
    # the answer says the change did not take (the CLI's [FAILED], a failing cell)
    assert desc["failed"].startswith("version 2 failed to start: ")
    assert post(svc.url, b"x", TOKEN).content == b"old:x"
    # a change that takes says nothing of the sort
    desc = kernel.client.modify("ver_keep", spec={"metadata": {"rpc.keepalive": 4000}})
    assert "failed" not in desc


def test_cli_modify_to_a_version_that_fails_exits_1(kernel, make_app, capsys, monkeypatch):
    from easlab import cli

    kernel.create(spec("ver_cli", tagged(make_app, "old")))
    broken = make_app("broken_cli", "import allspark\nraise SystemExit('broken build')\n")
    part = make_app("ver_cli_part", "")  # a folder for the partial spec file
    (part / "patch.json").write_text(f'{{"processor_path": "{broken}"}}')
    monkeypatch.setenv("EASLAB_ENDPOINT", kernel.endpoint)
    monkeypatch.setenv("EASLAB_ADMIN_TOKEN", kernel.admin_token)
    code = cli.main(["modify", "ver_cli", "-s", str(part / "patch.json")])
    err = capsys.readouterr().err
    assert code == 1
    assert "[FAILED] Service ver_cli was not changed: it still serves version 1" in err
    assert "version 2 failed to start" in err


def test_blue_green_release_splits_traffic_by_weight(kernel, make_app):
    blue = kernel.create(spec("bg_svc", tagged(make_app, "blue")))
    green = kernel.create(spec("bg_svc", tagged(make_app, "green")), blue_green=True)
    assert green.name.startswith("bg_svc_") and green.name != "bg_svc"
    assert post(green.url, b"x", TOKEN).content == b"green:x"  # own endpoint before release

    desc = kernel.client.release(green.name, 20)
    assert desc["weight"] == 20
    entry = kernel.client.describe("bg_svc")
    assert entry["weight"] == 80 and entry["traffic"] == {"bg_svc": 80, green.name: 20}
    closed = post(green.url, b"x", TOKEN)  # its own endpoint closed, and the 404 says where
    assert closed.status_code == 404 and "serves 20% of /api/predict/bg_svc" in closed.text

    counts: Counter[bytes] = Counter()
    with requests.Session() as session:
        for _ in range(1000):
            resp = session.post(blue.url, data=b"x", headers={"Authorization": TOKEN})
            assert resp.status_code == 200
            counts[resp.content] += 1
    assert abs(counts[b"green:x"] - 200) <= 20, counts
    assert counts[b"green:x"] + counts[b"blue:x"] == 1000

    # deleting the original sends all of its endpoint's traffic to the new service
    kernel.client.delete("bg_svc")
    assert {post(blue.url, b"x", TOKEN).content for _ in range(10)} == {b"green:x"}
    assert post(green.url, b"x", TOKEN).content == b"green:x"


def test_deleting_the_new_side_returns_traffic_to_the_original(kernel, make_app):
    blue = kernel.create(spec("bg_two", tagged(make_app, "b2")))
    green = kernel.create(spec("bg_two", tagged(make_app, "g2")), blue_green=True)
    kernel.client.release(green.name, 50)
    assert {post(blue.url, b"x", TOKEN).content for _ in range(10)} == {b"b2:x", b"g2:x"}
    kernel.client.delete(green.name)
    assert {post(blue.url, b"x", TOKEN).content for _ in range(10)} == {b"b2:x"}
    assert kernel.client.describe("bg_two")["traffic"] is None


def test_a_stopped_side_of_a_release_gets_no_traffic_while_the_other_serves(kernel, make_app):
    blue = kernel.create(spec("bg_stop", tagged(make_app, "b3")))
    green = kernel.create(spec("bg_stop", tagged(make_app, "g3")), blue_green=True)
    kernel.client.release(green.name, 50)
    kernel.client.stop(green.name)
    assert [post(blue.url, b"x", TOKEN).content for _ in range(10)] == [b"b3:x"] * 10
    kernel.client.start(green.name)
    assert {post(blue.url, b"x", TOKEN).content for _ in range(10)} == {b"b3:x", b"g3:x"}
    kernel.client.stop(green.name)
    kernel.client.stop("bg_stop")
    resp = post(blue.url, b"x", TOKEN)  # no side serves: the 503 says why
    assert resp.status_code == 503 and b"Stopped" in resp.content
    kernel.client.delete(green.name)
    kernel.client.delete("bg_stop")


def test_a_second_sibling_is_not_released_over_the_first(kernel, make_app):
    blue = kernel.create(spec("bg_pair", tagged(make_app, "b4")))
    green = kernel.create(spec("bg_pair", tagged(make_app, "g4")), blue_green=True)
    other = kernel.create(spec("bg_pair", tagged(make_app, "o4")), blue_green=True)
    kernel.client.release(green.name, 50)
    resp = requests.post(
        f"{kernel.endpoint}/easlab/v1/services/{other.name}/release",
        json={"weight": 30},
        headers=kernel.admin_headers(),
        timeout=10,
    )
    # was: the entry's split became bg_pair/other and green, released, lost every route
    assert resp.status_code == 409, resp.text
    error = resp.json()["error"]
    assert green.name in error and f"delete {green.name}" in error
    assert {post(blue.url, b"x", TOKEN).content for _ in range(10)} == {b"b4:x", b"g4:x"}
    assert post(other.url, b"x", TOKEN).content == b"o4:x"  # its own endpoint stays open
    # the released one may change its weight
    assert kernel.client.release(green.name, 100)["weight"] == 100
    kernel.client.delete(green.name)
    assert kernel.client.release(other.name, 30)["weight"] == 30
    counts = Counter(post(blue.url, b"x", TOKEN).content for _ in range(10))
    assert counts == {b"b4:x": 7, b"o4:x": 3}
    for name in (other.name, "bg_pair"):
        kernel.client.delete(name)


def test_release_of_a_sibling_whose_entry_was_deleted_says_so(kernel, make_app):
    blue = kernel.create(spec("bg_gone", tagged(make_app, "b5")))
    green = kernel.create(spec("bg_gone", tagged(make_app, "g5")), blue_green=True)
    kernel.client.release(green.name, 50)
    kernel.client.delete("bg_gone")
    resp = requests.post(
        f"{kernel.endpoint}/easlab/v1/services/{green.name}/release",
        json={"weight": 30},
        headers=kernel.admin_headers(),
        timeout=10,
    )
    # was: 404 "service 'bg_gone' not found", of a call naming the sibling
    assert resp.status_code == 409, resp.text
    error = resp.json()["error"]
    assert "'bg_gone', the service" in error and "was deleted" in error
    assert "already answers all of /api/predict/bg_gone" in error and "create -r" in error
    assert post(blue.url, b"x", TOKEN).content == b"g5:x"
    kernel.client.delete(green.name)


SLOW_APP = """
import time
import allspark

class Slow(allspark.BaseProcessor):
    def process(self, data):
        time.sleep(0.05)
        return b"%s:" + data, 200
"""


def test_no_call_is_lost_while_versions_switch_and_instances_scale(kernel, make_app):
    one = make_app("slow_one", SLOW_APP.replace("%s", "one"))
    two = make_app("slow_two", SLOW_APP.replace("%s", "two"))
    svc = kernel.create(spec("ver_busy", one, instance=3, **{"rpc.worker_threads": 2}))
    answers: list[tuple[int, bytes]] = []
    stop = threading.Event()
    seen = threading.Condition()

    def caller() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                resp = session.post(svc.url, data=b"x", headers={"Authorization": TOKEN})
                with seen:
                    answers.append((resp.status_code, resp.content))
                    seen.notify_all()

    def after_more(count: int) -> None:
        with seen:
            target = len(answers) + count
            assert seen.wait_for(lambda: len(answers) >= target, timeout=120)

    callers = [threading.Thread(target=caller) for _ in range(12)]
    for thread in callers:
        thread.start()
    try:
        after_more(30)
        kernel.client.modify("ver_busy", spec={"processor_path": str(two)})  # version 2
        after_more(30)
        kernel.client.modify("ver_busy", set={"metadata.instance": "1"})  # scale down
        after_more(30)
        kernel.client.version("ver_busy", 1)
        after_more(30)
        kernel.client.modify("ver_busy", set={"metadata.instance": "3"})
        after_more(30)
    finally:
        stop.set()
        for thread in callers:
            thread.join()
    # every call answered, by one version or the other: none refused by a retiring instance
    assert [a for a in answers if a not in ((200, b"one:x"), (200, b"two:x"))] == []
    assert {a[1] for a in answers} == {b"one:x", b"two:x"}
    kernel.client.delete("ver_busy")


def test_modify_d_name_is_refused_as_a_spec_naming_another_service(kernel, make_app):
    svc = kernel.create(spec("ver_named", tagged(make_app, "n")))
    resp = requests.patch(
        f"{kernel.endpoint}/easlab/v1/services/ver_named",
        json={"set": {"name": "other_name"}},
        headers=kernel.admin_headers(),
        timeout=30,
    )
    # was: 200, and the service's spec, desc and later refusals named 'other_name'
    assert resp.status_code == 400, resp.text
    assert resp.json()["field"] == "name"
    assert "names 'other_name', not 'ver_named': a service keeps its name" in resp.text
    assert kernel.client.describe("ver_named")["spec"]["name"] == "ver_named"
    # its own name is no change
    kernel.client.modify("ver_named", set={"name": "ver_named", "metadata.instance": 1})
    assert post(svc.url, b"x", TOKEN).content == b"n:x"
    kernel.client.delete("ver_named")


def test_a_blue_green_sibling_of_a_sibling_is_refused(kernel, make_app):
    blue = kernel.create(spec("bg_nest", tagged(make_app, "b6")))
    green = kernel.create(spec("bg_nest", tagged(make_app, "g6")), blue_green=True)
    kernel.client.release(green.name, 50)
    resp = requests.post(
        f"{kernel.endpoint}/easlab/v1/services",
        json={"spec": spec(green.name, tagged(make_app, "t6")), "blue_green": True},
        headers=kernel.admin_headers(),
        timeout=60,
    )
    # was: created, and its release opened green's own endpoint again, split with it
    assert resp.status_code == 409, resp.text
    assert resp.json()["field"] == "name"
    assert "sibling of 'bg_nest'" in resp.text and "set name to 'bg_nest'" in resp.text
    assert post(green.url, b"x", TOKEN).status_code == 404  # still closed
    assert {post(blue.url, b"x", TOKEN).content for _ in range(4)} == {b"b6:x", b"g6:x"}
    assert [s["name"] for s in kernel.client.list() if s["name"].startswith("bg_nest")] == [
        "bg_nest",
        green.name,
    ]
    kernel.client.delete(green.name)
    kernel.client.delete("bg_nest")


def test_a_new_service_named_as_a_deleted_entry_is_not_its_old_siblings_entry(
    easlab_home, make_app, tmp_path
):
    """A sibling pairs with the service it was created from, not with whatever has that
    name now. Before, after the entry's delete a new, unrelated service created under the
    entry's name was split with the old sibling on its `release` (its callers got the
    sibling's answers), and so again after a restart."""
    from easlab.client.local import LocalKernel

    state = tmp_path / "state"
    with LocalKernel(port=0, state_dir=state) as first:
        first.create(spec("bg_again", tagged(make_app, "b7")))
        green = first.create(spec("bg_again", tagged(make_app, "g7")), blue_green=True)
        first.client.delete("bg_again")
        fresh = first.create(spec("bg_again", tagged(make_app, "n7")))

        def refused(kernel) -> str:
            resp = requests.post(
                f"{kernel.endpoint}/easlab/v1/services/{green.name}/release",
                json={"weight": 50},
                headers=kernel.admin_headers(),
                timeout=10,
            )
            assert resp.status_code == 409, resp.text
            return resp.json()["error"]

        error = refused(first)
        assert "'bg_again', the service" in error and "was deleted" in error
        assert "another service" in error, error
        assert {post(fresh.url, b"x", TOKEN).content for _ in range(6)} == {b"n7:x"}
        # nor does the new one count as the sibling's entry for a create -r of the sibling
        nested = first.create(spec(green.name, tagged(make_app, "t7")), blue_green=True)
        first.client.delete(nested.name)
    with LocalKernel(port=0, state_dir=state) as second:
        wait_for(
            lambda: {d["status"] for d in second.client.list()} == {"Running"},
            120,
            "the restore done",
        )
        assert "was deleted" in refused(second)
        assert {
            post(fresh.url.replace(first.endpoint, second.endpoint), b"x", TOKEN).content
            for _ in range(6)
        } == {b"n7:x"}


def test_a_new_version_of_a_stopped_service_waits_for_its_start(kernel, make_app):
    """A stopped service stays stopped through a new version (modify -s) or a version
    switch: the version becomes its current one, which `start` serves, and the answer
    says so. Before, either started it (instances, GPUs and all) without a word."""
    svc = kernel.create(spec("ver_stopped", tagged(make_app, "s1")))
    kernel.client.stop("ver_stopped")
    desc = kernel.client.modify("ver_stopped", spec={"processor_path": str(tagged(make_app, "s2"))})
    assert (desc["status"], desc["current_version"], desc["latest_version"]) == ("Stopped", 2, 2)
    assert "version 2" in desc["message"] and "start ver_stopped" in desc["message"], desc
    assert kernel.client.workers("ver_stopped") == []
    desc = kernel.client.version("ver_stopped", 1)
    assert (desc["status"], desc["current_version"]) == ("Stopped", 1)
    assert "version 1" in desc["message"] and "start ver_stopped" in desc["message"], desc
    assert kernel.client.workers("ver_stopped") == []
    assert post(svc.url, b"x", TOKEN).status_code == 503
    desc = kernel.client.start("ver_stopped")
    assert (desc["status"], desc["current_version"], desc["message"]) == ("Running", 1, "")
    assert post(svc.url, b"x", TOKEN).content == b"s1:x"
    kernel.client.delete("ver_stopped")
