"""The environment settings seldon-core 1.18.2's microservice reads that change its answers
(``PAYLOAD_PASSTHROUGH``, ``FLASK_JSON_SORT_KEYS``, ``FLASK_JSON_AS_ASCII``,
``FLASK_JSONIFY_PRETTYPRINT_REGULAR``, ``FLASK_DEBUG``): the real microservice and easlab
run with the same setting, and answer the same request with the same status, content type
and bytes: SeldonApp in this process, the standalone ``easlab seldon`` and a kernel
service (its instances get the kernel's environment)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import requests
from exact_cases import EXECUTOR_PATHS, executor_passes_on
from test_kernel import COMPONENTS, seldon_service

from easlab.errors import SpecError
from easlab.seldon.app import SeldonApp
from easlab.seldon.component import build_component, load_component_class
from easlab.seldon.settings import MicroserviceSettings

PREDICT = "/api/v1.0/predictions"
PASSTHROUGH = {"PAYLOAD_PASSTHROUGH": "true"}
JSON = {"Content-Type": "application/json"}
MESSAGE = b'{"data": {"ndarray": [1]}}'

#: requests to a microservice with PAYLOAD_PASSTHROUGH set: predict_raw gets the bytes (the
#: text of a json form field or query argument; a multipart form's dict) and its answer
#: goes back as it is; the other paths read JSON as always
PASSTHROUGH_CASES = [
    ("Passthrough", "POST", PREDICT, {"data": MESSAGE, "headers": JSON}),
    ("Passthrough", "POST", "/predict", {"data": MESSAGE, "headers": JSON}),
    ("Passthrough", "POST", "/api/v0.1/predictions", {"data": b"not json at all",
                                                     "headers": {"Content-Type": "text/plain"}}),
    ("Passthrough", "POST", PREDICT, {"data": b"raw bytes"}),
    ("Passthrough", "POST", PREDICT, {"data": b""}),
    ("Passthrough", "POST", "/predict", {"data": b"as-dict"}),  # werkzeug sends its keys
    ("Passthrough", "POST", PREDICT, {"data": b"as-status"}),  # status.code: the status
    ("Passthrough", "POST", PREDICT, {"data": b"as-none"}),
    ("Passthrough", "POST", PREDICT, {"data": b"as-str"}),
    ("Passthrough", "POST", PREDICT, {"data": b"as-list"}),
    ("Passthrough", "POST", PREDICT, {"data": b"as-fail"}),
    ("Passthrough", "POST", PREDICT, {"data": {"json": "as-str from a form"}}),
    ("Passthrough", "POST", PREDICT + "?json=as-dict", {}),
    ("Passthrough", "GET", "/predict?json=as-dict", {}),
    ("Passthrough", "POST", PREDICT, {"files": {"strData": ("s.txt", b"x")}}),
    ("Passthrough", "POST", "/transform-input", {"data": MESSAGE, "headers": JSON}),
    ("Passthrough", "POST", "/transform-input", {"data": b"raw bytes"}),
    # a class without predict_raw gets the bytes too: seldon-core's 400
    ("MyModel", "POST", PREDICT, {"data": MESSAGE, "headers": JSON}),
    ("MyModel", "POST", PREDICT + '?json={"data":{"ndarray":[2]}}', {}),
    ("MyModel", "POST", PREDICT, {"files": {"strData": ("s.txt", b"x")}}),
]  # fmt: skip

#: the FLASK_* settings seldon-core copies into its flask app's config (getenv_as_bool:
#: "yes" is false)
FLASK_ENVS = [
    {"FLASK_JSON_SORT_KEYS": "false"},
    {"FLASK_JSON_AS_ASCII": "false"},
    {"FLASK_JSONIFY_PRETTYPRINT_REGULAR": "true"},
    {"FLASK_DEBUG": "true"},
    {"FLASK_DEBUG": "1", "FLASK_JSONIFY_PRETTYPRINT_REGULAR": "f"},
    {"FLASK_JSON_SORT_KEYS": "yes", "FLASK_JSON_AS_ASCII": "0"},
]
FLASK_CASES = [
    ("MyModel", "POST", PREDICT, {"json": {"meta": {"tags": {"z": 1, "a": 2}},
                                           "data": {"names": ["é"], "ndarray": [["é", 1]]}}}),
    ("MyModel", "POST", PREDICT, {"data": b"{bad", "headers": JSON}),
    ("MyModel", "GET", "/health/status", {}),
    ("MyModel", "GET", "/metadata", {}),
    ("MyModel", "GET", "/nowhere", {}),
    ("GoodMeta", "GET", "/metadata", {}),
    ("ClassNames", "POST", "/transform-input", {"json": {"data": {"ndarray": [[1, 2]]}}}),
    ("Router", "POST", "/route", {"json": {"data": {"ndarray": [[1]]}}}),
    ("Plain", "POST", "/send-feedback", {"json": {"request": {"data": {"ndarray": [1]}},
                                                  "reward": 1}}),
    ("FeedbackNumbers", "POST", "/send-feedback", {"json": {"request": {"data": {"ndarray": [[1]]}},
                                                            "reward": 0.3}}),
    ("TagsMetrics", "POST", PREDICT, {"json": {"data": {"ndarray": [[1, 2]]}}}),
    ("CustomError", "POST", PREDICT, {"json": {"data": {"ndarray": [[1]]}}}),  # its jsonify
    ("CustomError", "POST", PREDICT, {"json": {"data": {"ndarray": [[0]]}}}),
]  # fmt: skip

CASES = [(PASSTHROUGH, *case) for case in PASSTHROUGH_CASES] + [
    (env, *case) for env in FLASK_ENVS for case in FLASK_CASES
]


def _id(value):
    return json.dumps(value, default=repr) if isinstance(value, dict) else None


def in_process(components_dir, env, cls, method, path, kw) -> tuple[int, str, bytes]:
    klass = load_component_class(components_dir, cls)
    app = SeldonApp(build_component(klass, "[]"), settings=MicroserviceSettings.from_env(env))
    prepared = requests.Request(method, "http://x" + path, **kw).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    answer = app.handle(
        method,
        url.path,
        url.query,
        prepared.headers.get("Content-Type"),
        body.encode() if isinstance(body, str) else body,
    )
    return answer.status, answer.content_type, answer.body


def seldon_core(real_seldon, env, cls, method, path, kw) -> tuple[int, str, bytes]:
    theirs = requests.request(method, real_seldon.url(cls, env=env) + path, timeout=30, **kw)
    return theirs.status_code, theirs.headers["Content-Type"], theirs.content


@pytest.mark.parametrize(("env", "cls", "method", "path", "kw"), CASES, ids=_id)
def test_settings_answer_as_seldon_core(real_seldon, components_dir, env, cls, method, path, kw):
    """Before, easlab read none of these: a passthrough request was parsed as JSON (400
    "Can't find JSON in data" for text) and its answer re-written as compact JSON
    (``{"data":{"ndarray":[1]}}`` for ``{"data": {"ndarray": [1]}}``); the JSON was
    always compact, sorted and ASCII."""
    expected = seldon_core(real_seldon, env, cls, method, path, kw)
    assert in_process(components_dir, env, cls, method, path, kw) == expected


@pytest.mark.parametrize(
    ("env", "cls", "method", "path", "kw"), [c for c in CASES if c[1] != "CustomError"], ids=_id
)
def test_standalone_settings_answer_as_seldon_core(real_seldon, easlab_seldon, env, cls, method,
                                                   path, kw):  # fmt: skip
    """``easlab seldon`` started with the setting in its environment."""
    expected = seldon_core(real_seldon, env, cls, method, path, kw)
    ours = requests.request(method, easlab_seldon.url(cls, env=env) + path, timeout=30, **kw)
    assert (ours.status_code, ours.headers["Content-Type"], ours.content) == expected


def passthrough_spec(name: str, env) -> dict:
    return {"name": name, "processor": "seldon", "processor_path": str(COMPONENTS),
            "processor_mainclass": "Passthrough", "token": "tok-seldon-1234",
            "metadata": {"instance": 1}, "seldon": {"env": env}}  # fmt: skip


@pytest.fixture(scope="module")
def passthrough_service(kernel):
    """A kernel service whose ``seldon.env`` sets PAYLOAD_PASSTHROUGH, as a
    SeldonDeployment's container ``env`` does (Kubernetes' list form)."""
    env = [{"name": name, "value": value} for name, value in PASSTHROUGH.items()]
    service = kernel.create(passthrough_spec("sk_passthrough", env))
    assert service.status == "Running", service.message
    return service


@pytest.mark.parametrize(
    ("cls", "method", "path", "kw"),
    [c for c in PASSTHROUGH_CASES if c[0] == "Passthrough"]
    + [("Passthrough", "POST", "", {"data": b"raw at the service root"})],
)
def test_passthrough_through_the_kernel(real_seldon, passthrough_service, cls, method, path, kw):
    """The service root and /predict answer as the microservice; the executor's paths
    pass its answer on as the executor does (exact_cases.executor_passes_on)."""
    kw = dict(kw)
    headers = {**kw.pop("headers", {}), "Authorization": passthrough_service.token}
    ours = requests.request(
        method, passthrough_service.url + path, headers=headers, timeout=30, **kw
    )
    expected = seldon_core(real_seldon, PASSTHROUGH, cls, method, path or "/predict",
                           {**kw, "headers": headers})  # fmt: skip
    if urlsplit(path).path in EXECUTOR_PATHS:
        expected = executor_passes_on(*expected)
    assert (ours.status_code, ours.headers["Content-Type"], ours.content) == expected


def test_seldon_env_is_the_services_own(kernel, real_seldon, passthrough_service):
    """``seldon.env`` reaches its service's instances only: a service of the same class
    without it reads JSON as seldon-core without the setting does. easlab had no such field,
    so a kernel service could not get PAYLOAD_PASSTHROUGH (nor FLASK_*) at all."""
    plain = seldon_service(kernel, "sk_no_passthrough", "Passthrough")
    headers = {**JSON, "Authorization": plain.token}
    ours = requests.post(plain.url + "/predict", data=MESSAGE, headers=headers, timeout=30)
    theirs = requests.post(real_seldon.url("Passthrough") + "/predict", data=MESSAGE,
                           headers=headers, timeout=30)  # fmt: skip
    assert (ours.status_code, ours.content) == (theirs.status_code, theirs.content)
    assert ours.json() == {"form": ["data"]}  # the parsed message's keys, not the bytes


@pytest.mark.parametrize(
    ("env", "field", "says"),
    [
        ({"PAYLOAD_PASSTHROUGH": True}, "seldon.env.PAYLOAD_PASSTHROUGH", '"true" (quoted)'),
        ("PAYLOAD_PASSTHROUGH=true", "seldon.env", "an object of environment variables"),
        ([{"key": "A", "value": "1"}], "seldon.env[0]", '{"name": NAME, "value": "text"}'),
        ({"EASLAB_HOME": "/tmp"}, "seldon.env.EASLAB_HOME", "the kernel's own"),
    ],
)
def test_seldon_env_refusals_name_the_field(env, field, says):
    from easlab.spec import parse_spec

    with pytest.raises(SpecError) as err:
        parse_spec(passthrough_spec("x", env))
    assert err.value.field == field and says in str(err.value)
