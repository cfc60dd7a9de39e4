"""easlab's QueueClient and Watcher have every public method and attribute of the official ones.

The official surface is read from eas-prediction 0.36 in its own venv at test time
(never written by hand): the public names of ``QueueClient`` and ``Watcher`` (their
base classes included), the instance attributes a client has after ``init()`` and
a Watcher after ``watch()``, and each method's parameters. A method is compatible
when every official parameter is there under the same name and in the same
position, with a default where the official one has one; easlab's extra
parameters all have defaults (or are keyword-only).
"""

from __future__ import annotations

import inspect
import json

import pytest

INTROSPECT = r"""
import inspect, json
from eas_prediction import QueueClient
from eas_prediction.queue_client import Watcher

def params(fn):
    out = []
    for p in list(inspect.signature(fn).parameters.values())[1:]:  # self
        out.append({"name": p.name, "kind": p.kind.name,
                    "has_default": p.default is not inspect.Parameter.empty})
    return out

def surface(cls, instance):
    methods = {}
    for name in dir(cls):
        if name.startswith("_") and name != "__init__":
            continue
        value = getattr(cls, name)
        if inspect.isroutine(value):
            methods[name] = params(value)
    attributes = sorted(n for n in vars(instance) if not n.startswith("_"))
    return {"methods": methods, "attributes": attributes}

q = QueueClient("http://127.0.0.1:9", "q")
q.init()
w = q.watch(0, 5)
print(json.dumps({"QueueClient": surface(QueueClient, q), "Watcher": surface(Watcher, w)}))
"""


@pytest.fixture(scope="module")
def official(run_official):
    return json.loads(run_official(INTROSPECT))


def _easlab(kind: str):
    import easlab

    q = easlab.QueueClient("http://127.0.0.1:9", "q")
    q.init()
    return (q, easlab.QueueClient) if kind == "QueueClient" else (q.watch(0, 5), easlab.Watcher)


@pytest.mark.parametrize("kind", ["QueueClient", "Watcher"])
def test_every_official_method_exists_with_a_compatible_signature(official, kind):
    _, cls = _easlab(kind)
    problems = []
    for name, want in official[kind]["methods"].items():
        ours = getattr(cls, name, None)
        if ours is None or not callable(ours):
            problems.append(f"{kind}.{name} is missing")
            continue
        have = list(inspect.signature(ours).parameters.values())[1:]
        for i, p in enumerate(want):
            if p["kind"] in ("VAR_POSITIONAL", "VAR_KEYWORD"):
                continue
            if i >= len(have) or have[i].name != p["name"]:
                got = [h.name for h in have]
                problems.append(f"{kind}.{name}: parameter {i} should be {p['name']!r}, has {got}")
                break
            if p["has_default"] and have[i].default is inspect.Parameter.empty:
                problems.append(f"{kind}.{name}: {p['name']!r} needs a default")
        for extra in have[len(want) :]:
            if extra.default is inspect.Parameter.empty and extra.kind not in (
                extra.VAR_POSITIONAL,
                extra.VAR_KEYWORD,
            ):
                problems.append(f"{kind}.{name}: extra parameter {extra.name!r} has no default")
    assert problems == []


@pytest.mark.parametrize("kind", ["QueueClient", "Watcher"])
def test_every_official_attribute_exists(official, kind):
    instance, _ = _easlab(kind)
    missing = [a for a in official[kind]["attributes"] if not hasattr(instance, a)]
    assert missing == []


def test_the_official_surface_was_read(official):
    # the introspection found what SPEC §2 lists: a test that reads nothing proves nothing
    methods = official["QueueClient"]["methods"]
    for name in ("put", "get", "attributes", "search", "delete", "truncate", "commit", "watch"):
        assert name in methods
    assert {"run", "close"} <= set(official["Watcher"]["methods"])
    assert "watch_lock" in official["QueueClient"]["attributes"]
