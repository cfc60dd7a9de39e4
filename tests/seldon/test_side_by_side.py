"""easlab's Seldon REST contract against the real seldon-core 1.18.2, request for request.

Each case sends the same request to seldon-core-microservice and to easlab's
SeldonApp serving the same class; status and body must match exactly (JSON
types included: 1 and 1.0 differ), ignoring only meta.puid.
"""

from __future__ import annotations

import json
import os
from urllib.parse import urlsplit

import pytest
import requests

from easlab.seldon.app import SeldonApp
from easlab.seldon.component import build_component, load_component_class

_apps: dict[tuple[str, str], SeldonApp] = {}


def easlab_app(components_dir, cls: str, parameters: str) -> SeldonApp:
    key = (cls, parameters)
    if key not in _apps:
        klass = load_component_class(components_dir, cls)
        _apps[key] = SeldonApp(build_component(klass, parameters))
    return _apps[key]


def canon(body: bytes, ctype: str) -> str:
    if "json" not in ctype:
        return body.decode()
    value = json.loads(body)
    if isinstance(value, dict) and isinstance(value.get("meta"), dict):
        value["meta"].pop("puid", None)
    return json.dumps(value, sort_keys=True)


def both(real_seldon, components_dir, cls, method, path, parameters="[]", **kw):
    base = real_seldon.url(cls, parameters)
    theirs = requests.request(method, base + path, timeout=30, **kw)
    prepared = requests.Request(method, "http://x" + path, **kw).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    ours = easlab_app(components_dir, cls, parameters).handle(
        method, url.path, url.query, prepared.headers.get("Content-Type"), body
    )
    return (
        (theirs.status_code, canon(theirs.content, theirs.headers.get("Content-Type", ""))),
        (ours.status, canon(ours.body, ours.content_type)),
    )


def check(real_seldon, components_dir, cls, method, path, parameters="[]", **kw):
    theirs, ours = both(real_seldon, components_dir, cls, method, path, parameters, **kw)
    assert ours == theirs
    return theirs


PREDICT = "/api/v1.0/predictions"

CASES = [
    ("MyModel", {"data": {"names": ["a", "b"], "ndarray": [[1, 2], [3, 4]]}}),
    ("MyModel", {"data": {"ndarray": [1.5, 2, 3]}}),
    ("MyModel", {"data": {"tensor": {"shape": [2, 2], "values": [1, 2, 3, 4]}}}),
    ("MyModel", {"data": {"ndarray": [["x", "y"]]}}),
    ("MyModel", {"data": {"names": ["a"]}}),
    ("MyModel", {"meta": {"puid": "abc", "tags": {"t": 1}}, "data": {"ndarray": [[1]]}}),
    ("Payloads", {"strData": "hello"}),
    ("Payloads", {"binData": "aGVsbG8="}),
    ("Payloads", {"jsonData": {"k": [1, 2.5, "s"]}}),
    ("ClassNames", {"data": {"ndarray": [[1, 2], [3, 4]]}}),
    ("ClassNames", {"data": {"tensor": {"shape": [1, 2], "values": [1, 2]}}}),
    ("TagsMetrics", {"data": {"ndarray": [[1, 2]]}}),
    ("BadMetric", {"data": {"ndarray": [[1]]}}),
    ("Raw", {"data": {"ndarray": [1, 2, 3]}}),
    ("Raw", {"data": {"ndarray": "fail"}}),
    ("Plain", {"data": {"ndarray": [[1]]}}),
    ("MyModel", {"nodata": 1}),
    ("MyModel", [1, 2]),
]


@pytest.mark.parametrize(("cls", "payload"), CASES)
def test_predict(real_seldon, components_dir, cls, payload):
    check(real_seldon, components_dir, cls, "POST", PREDICT, json=payload)
    check(real_seldon, components_dir, cls, "POST", "/predict", json=payload)


def test_load_called_once(real_seldon, components_dir):
    _, body = check(
        real_seldon, components_dir, "MyModel", "POST", PREDICT, json={"data": {"ndarray": [1]}}
    )
    assert json.loads(body)["meta"]["tags"] == {"loads": 1}


@pytest.mark.parametrize(
    "kw",
    [
        {"data": b"not json", "headers": {"Content-Type": "application/json"}},
        {"data": b'{"data": {"ndarray": [1]}}', "headers": {"Content-Type": "text/plain"}},
        {"data": b"null", "headers": {"Content-Type": "application/json"}},
        {"data": {"json": json.dumps({"data": {"ndarray": [[1, 2]]}})}},
        {"params": {"json": json.dumps({"strData": "q"})}},
        {"files": {"strData": ("s.txt", b"file text")}},
        {"files": {"binData": ("b.bin", b"\x00\x01")}},
        {"data": {"strData": "form text"}, "files": {"x": ("x", b"")}},
    ],
)
def test_request_forms(real_seldon, components_dir, kw):
    check(real_seldon, components_dir, "Payloads", "POST", PREDICT, **kw)


@pytest.mark.parametrize("cls", ["MyModel", "Health", "TagsMetrics"])
def test_health(real_seldon, components_dir, cls):
    check(real_seldon, components_dir, cls, "GET", "/health/ping")
    check(real_seldon, components_dir, cls, "GET", "/health/status")


@pytest.mark.parametrize("cls", ["MyModel", "GoodMeta", "BadMeta"])
def test_metadata(real_seldon, components_dir, cls):
    status, _ = check(real_seldon, components_dir, cls, "GET", "/metadata")
    assert status == (500 if cls == "BadMeta" else 200)


def test_custom_exception_402(real_seldon, components_dir):
    status, body = check(
        real_seldon,
        components_dir,
        "CustomError",
        "POST",
        PREDICT,
        json={"data": {"ndarray": [[1]]}},
    )
    assert status == 402 and json.loads(body)["status"]["app_code"] == 1402
    status, _ = check(
        real_seldon,
        components_dir,
        "CustomError",
        "POST",
        PREDICT,
        json={"data": {"ndarray": [[0]]}},
    )
    assert status == 500


@pytest.mark.parametrize(
    ("cls", "payload"),
    [
        ("Router", {"data": {"ndarray": [[1]]}}),
        ("Router", {"data": {"ndarray": [[9]]}}),
        ("Router", {"data": {"ndarray": [[-1]]}}),
        ("MyModel", {"data": {"ndarray": [[1]]}}),
    ],
)
def test_route(real_seldon, components_dir, cls, payload):
    check(real_seldon, components_dir, cls, "POST", "/route", json=payload)


@pytest.mark.parametrize(
    ("cls", "payload"),
    [
        (
            "Combiner",
            {
                "seldonMessages": [
                    {"data": {"ndarray": [[1, 2]]}, "meta": {"tags": {"a": 1}}},
                    {"data": {"ndarray": [[3, 5]]}, "meta": {"tags": {"b": 2}}},
                ]
            },
        ),
        ("Combiner", [{"data": {"tensor": {"shape": [2], "values": [1, 2]}}}] * 2),
        ("Combiner", {"data": {"ndarray": [1]}}),
        ("MyModel", {"seldonMessages": [{"data": {"ndarray": [1]}}]}),
    ],
)
def test_aggregate(real_seldon, components_dir, cls, payload):
    check(real_seldon, components_dir, cls, "POST", "/aggregate", json=payload)


@pytest.mark.parametrize("path", ["/transform-input", "/transform-output"])
@pytest.mark.parametrize("cls", ["Transformer", "MyModel"])
def test_transform(real_seldon, components_dir, cls, path):
    payload = {"data": {"names": ["a", "b"], "ndarray": [[1, 2]]}}
    check(real_seldon, components_dir, cls, "POST", path, json=payload)


def test_send_feedback(real_seldon, components_dir):
    payload = {
        "request": {"data": {"ndarray": [[1, 2]]}},
        "response": {"data": {"ndarray": [[1, 2]]}},
        "reward": 1,
    }
    check(real_seldon, components_dir, "MyModel", "POST", "/send-feedback", json=payload)


def test_parameters_of_each_type(real_seldon, components_dir):
    params = json.dumps(
        [
            {"name": "i", "value": "3", "type": "INT"},
            {"name": "f", "value": "0.5", "type": "FLOAT"},
            {"name": "d", "value": "2", "type": "DOUBLE"},
            {"name": "s", "value": "hi", "type": "STRING"},
            {"name": "b", "value": "true", "type": "BOOL"},
        ]
    )
    _, body = check(
        real_seldon,
        components_dir,
        "Params",
        "POST",
        PREDICT,
        params,
        json={"data": {"ndarray": [1]}},
    )
    assert json.loads(body)["jsonData"]["d"] == ["float", 2.0]


FEEDBACKS = [
    {
        "request": {"data": {"names": ["a", "b"], "ndarray": [[1, 2]]}},
        "response": {"meta": {"routing": {"0": 1}}},
        "reward": 1,
        "truth": {"data": {"ndarray": [[0, 1]]}},
    },
    {
        "request": {"data": {"tensor": {"shape": [1, 2], "values": [1, 2]}}},
        "reward": 0.1,  # a proto float: 32 bits
        "truth": {"data": {"tensor": {"shape": [2], "values": [3, 4]}}},
    },
    {"request": {"data": {"ndarray": [[1, 2]]}}, "truth": {"data": {"tensor": {"shape": [1, 1], "values": [7]}}}},
    {"request": {"strData": "hi"}, "reward": 2},
    {"request": {"jsonData": {"a": 1}}, "reward": 3, "truth": {"strData": "t"}},
    {"request": {"binData": "aGk="}, "reward": 3},
    {"request": {"data": {"names": ["a"]}}, "reward": 1},
    {"reward": 1},
    {},
]  # fmt: skip


@pytest.mark.parametrize("feedback", FEEDBACKS)
def test_send_feedback_arguments(real_seldon, components_dir, feedback):
    """The answer, and what send_feedback(features, names, reward, truth, routing) got:
    arrays (empty ones for no data or a str/json/bin message), as seldon-core passes them."""
    check(real_seldon, components_dir, "FeedbackSeen", "POST", "/send-feedback", json=feedback)
    _, seen = check(
        real_seldon, components_dir, "FeedbackSeen", "POST", PREDICT, json={"strData": "x"}
    )
    assert "sizes" in json.loads(seen)["jsonData"]


@pytest.mark.parametrize("feedback", FEEDBACKS[1:3])
@pytest.mark.parametrize("cls", ["MyModel", "Plain"])
def test_send_feedback_tensor_without_send_feedback(real_seldon, components_dir, cls, feedback):
    status, _ = check(real_seldon, components_dir, cls, "POST", "/send-feedback", json=feedback)
    assert status == 200


@pytest.mark.parametrize("feedback", FEEDBACKS)
def test_send_feedback_raw_reads_a_feedback_message(real_seldon, components_dir, feedback):
    """``feedback.reward``, ``feedback.request.data.names`` ... and a SeldonMessage back."""
    status, _ = check(
        real_seldon, components_dir, "FeedbackRaw", "POST", "/send-feedback", json=feedback
    )
    assert status == 200


@pytest.mark.parametrize(
    ("cls", "kind"),
    [
        ("MetricShapes", 1),  # the guide's trailing comma: a tuple
        ("MetricShapes", 2),  # one metric, not in a list
        ("MetricShapes", 3),  # a list holding a non-dict
        ("MetricShapes", 4),
        ("MetricShapes.StaticTuple", 1),  # metrics() returning a tuple
        ("MetricShapes.StaticDict", 1),  # metrics() returning one dict
        ("MetricShapes.RawMetrics", 1),  # predict_raw: a tuple is recorded, as seldon-core does
        ("MetricShapes.RawMetrics", 3),
    ],
)
def test_metrics_not_a_list(real_seldon, components_dir, cls, kind):
    status, body = check(
        real_seldon, components_dir, cls, "POST", PREDICT, json={"data": {"ndarray": [kind]}}
    )
    if kind in (1, 2, 3) and cls != "MetricShapes.RawMetrics":
        assert (status, json.loads(body)["status"]["reason"]) == (500, "MICROSERVICE_BAD_METRIC")


@pytest.mark.parametrize("kind", [2, 4, 5])
def test_raw_metrics_it_cannot_record(real_seldon, components_dir, kind):
    """A predict_raw ``meta.metrics`` that is one dict, or holds a non-metric: seldon-core
    fails recording it (500 MICROSERVICE_INTERNAL_ERROR with a Python message such as
    "'str' object has no attribute 'get'"); easlab answers the same status and body
    shape, with the reason and message of seldon-core's other metric checks."""
    theirs, ours = both(
        real_seldon,
        components_dir,
        "MetricShapes.RawMetrics",
        "POST",
        PREDICT,
        json={"data": {"ndarray": [kind]}},
    )
    assert ours[0] == theirs[0] == 500
    mine, real = json.loads(ours[1])["status"], json.loads(theirs[1])["status"]
    assert set(mine) == set(real) and (mine["status"], mine["code"]) == (
        real["status"],
        real["code"],
    )
    assert mine["reason"] == "MICROSERVICE_BAD_METRIC"
    assert mine["info"].startswith("Bad metric created during request: ")


@pytest.mark.parametrize("path", [PREDICT, "/health/ping", "/nowhere"])
def test_options_answers_200_empty(real_seldon, components_dir, path):
    headers = {"Origin": "http://x", "Access-Control-Request-Method": "POST"}
    assert check(real_seldon, components_dir, "MyModel", "OPTIONS", path, headers=headers) == (
        200,
        "",
    )


@pytest.mark.parametrize(
    "path", [PREDICT, "/predict", "/transform-input", "/transform-output", "/route", "/aggregate"]
)
def test_raw_hook_answering_none(real_seldon, components_dir, path):
    """A ``*_raw`` hook's None is answered as JSON ``null`` (200), as flask's jsonify does,
    not as ``{}``; /transform-output has no hook here and answers the request."""
    payload = (
        [{"data": {"ndarray": [[1]]}}] if path == "/aggregate" else {"data": {"ndarray": [[1]]}}
    )
    status, body = check(real_seldon, components_dir, "RawNone", "POST", path, json=payload)
    assert status == 200 and (body == "null") == (path != "/transform-output")


@pytest.mark.parametrize(
    "feedback",
    [
        {"request": {"data": {"ndarray": [[1]]}}, "reward": 0.3},
        {"reward": "1.5"},  # protobuf reads a number in a string
        {"reward": None},
        {},
    ],
)
def test_send_feedback_answer_goes_through_protobuf(real_seldon, components_dir, feedback):
    """The answer is a SeldonMessage read back by MessageToDict: jsonData numbers are
    doubles (3 -> 3.0), a Metric value is a 32-bit float printed shortest (0.1 stays 0.1,
    12345678901 -> 12345679000.0) and a numpy float32 value is fine."""
    status, body = check(
        real_seldon, components_dir, "FeedbackNumbers", "POST", "/send-feedback", json=feedback
    )
    assert status == 200 and json.loads(body)["jsonData"]["count"] == 3.0


@pytest.mark.parametrize(
    "feedback",
    [
        {"request": {"data": {"ndarray": [[1]]}}, "rewards": 1},
        {"request": {"data": {"ndarray": [[1]]}, "meta": {"bogus": 1}}},
        {"request": {"data": {"ndarray": [[1]], "tensorr": {}}}},
        {"request": {"data": {"tensor": {"shape": [1], "values": [1], "x": 1}}}},
        {"request": {"meta": {"metrics": [{"key": "a"}, {"key": "b", "bad": 1}]}}},
        {"truth": {"strData": "t", "extra": None}},
        {"reward": "high"},
        {"reward": "nan"},
    ],
)
def test_send_feedback_body_protobuf_refuses(real_seldon, components_dir, feedback):
    """seldon-core parses the body with protobuf's ParseDict: a field the message lacks (a
    typo) or a reward that is no number is a 400 MICROSERVICE_BAD_DATA "Invalid JSON: ...",
    and the component never runs."""
    status, body = check(
        real_seldon, components_dir, "FeedbackNumbers", "POST", "/send-feedback", json=feedback
    )
    assert status == 400 and json.loads(body)["status"]["info"].startswith("Invalid JSON: ")


@pytest.mark.parametrize(
    "payload",
    [
        {"data": {"names": ["a"], "ndarray": [[1, 2]]}, "meta": {"puid": "p", "tags": {"t": 1}}},
        {"data": {"tensor": {"shape": [1, 2], "values": [1, 2]}}},
        {"strData": "s"},
        {"jsonData": {"k": 1}},
        {"binData": "aGk="},
    ],
)
def test_raw_hook_built_with_seldon_core_utils(real_seldon, components_dir, payload):
    """A component module doing ``from seldon_core.utils import *`` (extract_request_parts_json,
    construct_response_json, array_to_rest_datadef, getenv_as_bool, ...) loads and answers
    as under seldon-core: easlab had no seldon_core.utils, so the service failed to start
    with "No module named 'seldon_core.utils'"."""
    status, _ = check(real_seldon, components_dir, "UtilsRaw", "POST", PREDICT, json=payload)
    assert status == 200


@pytest.mark.parametrize("feedback", [FEEDBACKS[0], FEEDBACKS[3], {"reward": 2}, {}])
def test_send_feedback_rest_is_still_called(real_seldon, components_dir, feedback):
    """The deprecated ``send_feedback_rest(json_text)`` runs and its answer is the answer,
    as in seldon-core (predict_rest and the other *_rest hooks already were): easlab never
    called it and answered an empty prediction."""
    status, body = check(
        real_seldon, components_dir, "FeedbackRest", "POST", "/send-feedback", json=feedback
    )
    assert status == 200 and json.loads(body)["strData"].startswith("got reward")


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/transform-input", {"data": {"ndarray": [[1]]}}),
        ("/transform-output", {"data": {"ndarray": [[1]]}}),
        ("/route", {"data": {"ndarray": [[1]]}}),
        ("/aggregate", {"seldonMessages": [{"data": {"ndarray": [[1]]}}]}),
        ("/aggregate", [{"data": {"ndarray": [[1]]}}]),
        (PREDICT, {"data": {"ndarray": [[1]]}}),  # predict_grpc: gRPC requests only
    ],
)
def test_deprecated_grpc_hooks_are_called_over_rest(real_seldon, components_dir, path, payload):
    """seldon-core calls ``transform_input_grpc``, ``transform_output_grpc``, ``route_grpc``
    and ``aggregate_grpc`` (when there is no ``*_rest`` hook) with the REST request's JSON
    too, and answers what they return; ``predict_grpc`` only for a gRPC request. easlab
    ignored them over REST and answered the high-level method's (or the class's lack of
    it: "Route not defined")."""
    status, body = check(real_seldon, components_dir, "GrpcHooks", "POST", path, json=payload)
    assert status == 200, body


@pytest.mark.parametrize(
    "payload",
    [
        {"data": {"ndarray": [[1, 2]]}},
        {"strData": "names"},
        {"data": {"ndarray": [[1, 2]]}, "meta": {"tags": {"proto": 1}}},
    ],
)
def test_star_import_of_seldon_core_utils_brings_its_imports(real_seldon, components_dir, payload):
    """A component using ``np``, ``json``, ``os``, ``base64`` and ``get_model_name`` that
    came with ``from seldon_core.utils import *`` (seldon-core's module has no __all__):
    easlab's module exported 17 helper names only, so it failed with "name 'np' is not
    defined" where seldon-core served it."""
    status, body = check(real_seldon, components_dir, "StarUtils", "POST", PREDICT, json=payload)
    assert status == 200, body


def test_star_import_of_seldon_core_utils_gives_seldon_cores_names(components_dir):
    """``from seldon_core.utils import *`` gives the names seldon-core 1.18.2's gives
    (``tf``/``TensorProto``, there only with tensorflow installed, aside)."""
    import subprocess

    from tests.seldon.conftest import SELDON_VENV

    script = (
        "ns = {}\nexec('from seldon_core.utils import *', ns)\n"
        "print(sorted(set(ns) - {'__builtins__', 'tf', 'TensorProto'}))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    real = subprocess.run(
        [str(SELDON_VENV / "bin" / "python"), "-c", script],
        capture_output=True, text=True, check=True, env=env, cwd=components_dir,
    )  # fmt: skip
    ours: dict = {}
    exec("from seldon_core.utils import *", ours)
    assert sorted(set(ours) - {"__builtins__"}) == json.loads(real.stdout.replace("'", '"'))


def _refs(value) -> set[str]:
    if isinstance(value, dict):
        found = {value["$ref"]} if isinstance(value.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value))
    return set()


def test_openapi_document_at_seldon_json(real_seldon, components_dir):
    """GET /seldon.json is seldon-core's OpenAPI document; easlab answered its 404 (a 500
    body). easlab's own document lists every path and method its route table serves (the
    microservice's six paths, each with the same methods, among them), and only those."""
    theirs = requests.get(real_seldon.url("MyModel") + "/seldon.json", timeout=30)
    app = easlab_app(components_dir, "MyModel", "[]")
    ours = app.handle("GET", "/seldon.json")
    assert (ours.status, ours.content_type) == (theirs.status_code, "application/json")
    document = json.loads(ours.body)
    assert document["openapi"].startswith("3.") and theirs.json()["openapi"].startswith("3.")

    def methods_of(doc) -> dict[str, set[str]]:
        return {path: set(item) for path, item in doc["paths"].items()}

    mine = methods_of(document)
    assert {path: mine.get(path) for path in methods_of(theirs.json())} == methods_of(theirs.json())
    assert mine == {path: {m.lower() for m in route[0]} for path, route in app.routes.items()}
    schemas = document["components"]["schemas"]
    assert {ref.rsplit("/", 1)[1] for ref in _refs(document)} <= set(schemas)
    assert document["servers"] == [{"url": "/"}] and "security" not in document
    # served as the microservice serves the route: HEAD as GET, other methods its 405
    assert app.handle("HEAD", "/seldon.json").status == 200
    check(real_seldon, components_dir, "MyModel", "POST", "/seldon.json", json={})


ROUTINGS = [{"0": "zz"}, {"0": 1.5}, {"0": True}, {"0": 2**31}, {"0": -(2**31)}, {"0": None},
            {"0": [1]}, {"0": " 3"}, {"0": "1e2"}, {"0": "3"}, {"0": "-2"}, {"0": 3.0},
            {"0": 1e20}, [1], "x"]  # fmt: skip


@pytest.mark.parametrize("routing", ROUTINGS)
def test_send_feedback_routing_is_a_map_of_int32(real_seldon, components_dir, routing):
    """response.meta.routing is a proto map<string, int32>: a value that is no such number
    is seldon-core's 400 "Invalid JSON: ... Failed to parse routing field: ...", and a
    number written as text ("3") reaches send_feedback as the int. easlab handed any value
    to send_feedback (routing 'zz', 1.5, True, None) and answered 200."""
    feedback = {"request": {"data": {"ndarray": [[1]]}}, "reward": 1,
                "response": {"meta": {"routing": routing}}}  # fmt: skip
    check(real_seldon, components_dir, "FeedbackSeen", "POST", "/send-feedback", json=feedback)
    check(real_seldon, components_dir, "FeedbackSeen", "POST", PREDICT, json={"strData": "x"})


@pytest.mark.parametrize("cls", ["MyModel", "Plain", "TagsMetrics"])
@pytest.mark.parametrize(
    "meta",
    [{"tags": "x"}, {"tags": "ab"}, {"tags": ""}, {"tags": [["a", 1]]}, {"tags": []},
     {"tags": 5}, {"metrics": "ab"}, {"metrics": []}, {"metrics": {"k": 1}}],
)  # fmt: skip
def test_request_meta_tags_and_metrics_of_other_types(real_seldon, components_dir, cls, meta):
    """A request whose ``meta.tags`` is no dict (or ``meta.metrics`` no list) is answered
    as seldon-core answers it: kept as it is where nothing is added to it (``"ab"``
    echoed, ``[["a", 1]]`` too), else its 500 naming the Python error ("'str' object has
    no attribute 'update'"). easlab made a dict or list of it first: "dictionary update
    sequence element #0 has length 1; 2 is required" for "x", {"a": 1} for [["a", 1]],
    ["a", "b"] for "ab"."""
    payload = {"meta": meta, "data": {"ndarray": [[1]]}}
    check(real_seldon, components_dir, cls, "POST", PREDICT, json=payload)
