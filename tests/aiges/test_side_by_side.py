"""easlab's aiges tools side by side with the real SDK (aiges 0.16.0 in .venv-aiges).

The same wrappers go through the SDK's ``schema()`` / ``run()`` and through
``easlab aiges schema`` / ``easlab aiges run``: the schema documents are equal
to the character, the wrapper is called with the same config, params and input
data (it records them), and both accept or reject the same responses. The
params a wrapper sees under the kernel and ``easlab aiges run`` equal, types
included, what it sees under the SDK's loader service: strings.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.aiges.conftest import copy_wrapper, fits_the_cpp_loader

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).resolve().parent / "sdk_driver.py"
NAMES = ["guide", "echo", "image", "err", "classm", "badresp", "star"]


def _copy(tmp_path: Path, name: str, side: str) -> Path:
    folder = tmp_path / side / name
    copy_wrapper(name, folder)
    return folder


def _env(record: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if record is not None:
        env["AIGES_RECORD"] = str(record)
    return env


def sdk(real_aiges: Path, folder: Path, mode: str, params=None, record=None) -> str:
    out = folder.parent / f"sdk-{mode}.out"
    env = _env(record)
    env.pop("PYTHONPATH", None)  # the real SDK only, never easlab
    args = [str(real_aiges), str(DRIVER), str(folder), mode, str(out)]
    if params:
        args.append(json.dumps(params))
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=folder, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out.read_text()


def ours(folder: Path, *args: str, record=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "easlab", "aiges", *args],
        capture_output=True,
        text=True,
        env=_env(record),
        cwd=folder,
        timeout=120,
    )


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("name", NAMES)
def test_schema_equals_the_sdks(real_aiges, tmp_path, name):
    folder = _copy(tmp_path, name, "sdk")
    expected = sdk(real_aiges, folder, "schema")
    got = ours(folder, "schema", "wrapper.py")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout) == json.loads(expected)
    assert got.stdout.rstrip("\n") == expected


@pytest.mark.parametrize("name", ["guide", "echo", "image", "err", "classm", "star"])
def test_run_calls_the_wrapper_as_the_sdk_does(real_aiges, tmp_path, name):
    theirs_rec, ours_rec = tmp_path / "theirs.jsonl", tmp_path / "ours.jsonl"
    verdict = json.loads(sdk(real_aiges, _copy(tmp_path, name, "sdk"), "run", record=theirs_rec))
    got = ours(_copy(tmp_path, name, "easlab"), "run", "wrapper.py", record=ours_rec)
    theirs_calls, our_calls = records(theirs_rec), records(ours_rec)
    for call in theirs_calls:
        if "params" in call:
            # the SDK's run() passes the declared values typed (2, false); its loader,
            # and easlab everywhere, pass strings ("2", "false"), and the request's sid
            # (the loader's, easlab's run: "easlab-run"), which the SDK's run() leaves out
            call["params"] = {k: _spelled(v) for k, v in call["params"].items()}
            call["params"]["sid"] = "easlab-run"
    # the SDK never calls wrapperFini; easlab does (when the wrapper defines it)
    assert [c for c in our_calls if c["event"] != "fini"] == theirs_calls
    assert "invalid response" not in got.stdout
    assert verdict["verified"], verdict["log"]
    if name == "err":
        assert got.returncode == 1 and "wrapper answered error 1001: 识别无结果" in got.stdout
    else:
        assert got.returncode == 0, got.stdout + got.stderr
        assert "verified" in got.stdout
    if name in ("guide", "classm"):
        assert our_calls[-1]["event"] == "fini"
    if name == "star":  # the config the instance set in __init__, as the SDK's self.config
        assert our_calls[0]["config"] == {"from": "instance"}


def _spelled(value):
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


#: webgate params and the strings the webgate hands the loader for them: Go's
#: ConvertToString (iflytek/aiges AtheGateway/common/data_util.go) — numbers are
#: float64, written FormatFloat(v, 'f', -1, 64); bools true/false; strings as they are
WEBGATE_STRINGS = [
    (
        {"times": 2, "ratio": 0.25, "loud": True, "name": "ada"},
        {"times": "2", "ratio": "0.25", "loud": "true", "name": "ada"},
    ),
    (
        {"times": 0, "ratio": 3.0, "loud": False, "name": ""},
        {"times": "0", "ratio": "3", "loud": "false", "name": ""},
    ),
    (
        {"times": 5, "ratio": 1e-07, "loud": False, "name": "007"},
        {"times": "5", "ratio": "0.0000001", "loud": "false", "name": "007"},
    ),
]


def sdk_loader_sees(real_aiges: Path, tmp_path: Path, strings: dict[str, str]) -> dict:
    """What the params wrapper answers when the SDK's loader service calls it with ``strings``."""
    got = json.loads(sdk(real_aiges, _copy(tmp_path, "params", "sdk"), "serve", strings))
    assert got["ret"] == 0 and len(got["answers"]) == 1, got
    return json.loads(got["answers"][0])


@pytest.fixture(scope="module")
def params_svc(kernel, tmp_path_factory):
    folder = copy_wrapper("params", tmp_path_factory.mktemp("aiges_params"))
    spec = {"name": "aiges_params", "processor": "aiges", "processor_path": str(folder)}
    svc = kernel.create({**spec, "token": "tok-params-xxxx", "metadata": {"instance": 1}})
    assert svc.status == "Running", svc.desc.get("message")
    yield svc
    kernel.delete("aiges_params")


@pytest.mark.parametrize(("sent", "strings"), WEBGATE_STRINGS)
def test_the_kernel_passes_params_as_the_sdks_loader_does(
    real_aiges, tmp_path, params_svc, sent, strings
):
    body = {
        "header": {"appid": "a", "sid": "sid-1"},
        "parameter": {"params": sent},
        "payload": {"text": {"encoding": "utf8", "status": 3, "text": "aGk="}},
    }
    r = requests.post(
        params_svc.url, json=body, headers={"Authorization": "tok-params-xxxx"}, timeout=30
    )
    assert r.status_code == 200, r.text
    text = json.loads(base64.b64decode(r.json()["payload"]["seen"]["text"]))
    # the loader's params hold the request's sid too (its headerPass list)
    loader = {**strings, "sid": "sid-1"}
    assert text == sdk_loader_sees(real_aiges, tmp_path, loader)
    assert text == {k: ["str", v] for k, v in loader.items()}


@pytest.mark.parametrize(("sent", "strings"), WEBGATE_STRINGS)
def test_aiges_run_passes_params_as_the_sdks_loader_does(real_aiges, tmp_path, sent, strings):
    args = []
    for key, value in sent.items():
        args += ["--param", f"{key}={_spelled(value)}"]
    got = ours(_copy(tmp_path, "params", "easlab"), "run", ".", *args)
    assert got.returncode == 0, got.stdout + got.stderr
    shown = got.stdout.split("seen (text, ", 1)[1].split(": ", 1)[1].splitlines()[0]
    loader = {**strings, "sid": "easlab-run"}  # the loader's params hold the sid too
    assert json.loads(shown) == sdk_loader_sees(real_aiges, tmp_path, loader)


@pytest.mark.parametrize(
    "kind",
    [
        "ok",
        "str_data",
        "len_mismatch",
        "bad_status",
        "undeclared_key",
        "wrong_type",
        "dup_keys",
        "empty_list",
        "not_response",
        "list_of_str",
        "list_none",
        "append",
    ],
)
def test_accepts_and_rejects_the_same_responses(real_aiges, tmp_path, kind):
    verdict = json.loads(sdk(real_aiges, _copy(tmp_path, "badresp", "sdk"), "run", {"kind": kind}))
    got = ours(_copy(tmp_path, "badresp", "easlab"), "run", ".", "--param", f"kind={kind}")
    accepted = got.returncode == 0
    assert accepted == verdict["verified"], (got.stdout, verdict["log"])
    if not accepted:
        assert "invalid response" in got.stdout, got.stdout


def test_plain_assignment_fails_as_in_the_sdk_naming_set_data(real_aiges, tmp_path, kernel):
    """The guide's ``l.data = ...; l.len = ...`` fails in aiges 0.16.0 (aiges.dto's
    ResponseData has no setter for either): its run() fails, and so does its Python
    plugin's wrapperOnceExec, so the request gets no answer. easlab took the assignment and
    served the answer; now the line fails here too, saying to call setData."""
    verdict = json.loads(
        sdk(real_aiges, _copy(tmp_path, "badresp", "sdk"), "run", {"kind": "assign_bytes"})
    )
    assert not verdict["verified"] and "has no setter" in verdict["log"]
    got = ours(_copy(tmp_path, "badresp", "easlab"), "run", ".", "--param", "kind=assign_bytes")
    assert got.returncode == 1, got.stdout
    said = (
        "AttributeError: ResponseData.data cannot be assigned: aiges.dto's ResponseData "
        "(aiges 0.16.0) has no setter for data or len"
    )
    assert "wrapperOnceExec raised:" in got.stdout and said in got.stdout, got.stdout
    assert "call l.setData(data), which sets both" in got.stdout, got.stdout
    folder = _copy(tmp_path, "badresp", "kernel")
    spec = {"name": "aiges_assign", "processor": "aiges", "processor_path": str(folder)}
    svc = kernel.create({**spec, "token": "tok-assign-xxxx", "metadata": {"instance": 1}})
    try:
        assert svc.status == "Running", svc.desc.get("message")
        body = {
            "header": {"appid": "a"},
            "parameter": {"bad": {"kind": "assign_bytes"}},
            "payload": {"text": {"encoding": "utf8", "status": 3, "text": "eA=="}},
        }
        r = requests.post(svc.url, json=body, headers={"Authorization": "tok-assign-xxxx"})
        assert r.status_code == 500, r.text
        assert r.json()["header"]["message"].startswith(
            "wrapperOnceExec raised AttributeError: ResponseData.data cannot be assigned"
        ), r.text
    finally:
        kernel.delete("aiges_assign")


def test_appending_to_a_fresh_response_keeps_its_blank_output_as_in_the_sdk(real_aiges, tmp_path):
    """aiges.dto's Response() holds one blank ResponseData (key ''): r.list.append(l) puts
    the output after it, and the SDK's check refuses the answer for the undeclared key ''.
    easlab refuses it too, and says where the blank output came from."""
    verdict = json.loads(
        sdk(real_aiges, _copy(tmp_path, "badresp", "sdk"), "run", {"kind": "append"})
    )
    assert not verdict["verified"] and "field key  is not in expect" in verdict["log"]
    got = ours(_copy(tmp_path, "badresp", "easlab"), "run", ".", "--param", "kind=append")
    assert got.returncode == 1, got.stdout
    assert (
        "invalid response: output '' is not declared in responseCls (declared: 'out', "
        "'pic'): use a declared key or declare it (aiges.dto's Response() holds one blank "
        "ResponseData: r.list.append(l) keeps it, r.list = [l] replaces it)"
    ) in got.stdout, got.stdout


def test_run_from_the_parent_runs_the_sdk_template_in_its_folder(real_aiges, tmp_path):
    """`easlab aiges run FOLDER` runs the wrapper in FOLDER, as the kernel does: the SDK's
    own template declares ImageBodyField(path="test_data/test.png"), relative to it."""
    made = subprocess.run(
        [str(real_aiges), "-m", "aiges", "create", "-n", "proj"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    folder = tmp_path / "proj" / "wrapper"
    png = folder / "test_data" / "test.png"
    got = ours(tmp_path, "run", "proj/wrapper", "--out", "out")
    assert got.returncode == 0, got.stdout + got.stderr
    # the template answers its first input: the real test file, not the SDK's placeholder
    saved = tmp_path / "out" / "result.jpg"  # --out is the caller's path
    assert f"result ({png.stat().st_size} bytes) saved to {saved}" in got.stdout
    assert saved.read_bytes() == png.read_bytes() and "verified" in got.stdout
    assert ours(tmp_path, "schema", "proj/wrapper/wrapper.py").returncode == 0
    png.unlink()
    missing = ours(tmp_path, "run", "proj/wrapper")
    assert missing.returncode == 2, missing.stdout
    assert "input 'data': the test file 'test_data/test.png'" in missing.stdout
    assert f"looked in {folder}" in missing.stdout and "--input data=FILE" in missing.stdout


def test_an_init_that_does_not_return_0_fails_as_under_the_sdks_loader(
    real_aiges, tmp_path, kernel
):
    """A wrapperInit that forgets ``return 0`` (None): the SDK's loader service fails the
    start (``ret != 0``: USER_INIT_ERROR 30002); `easlab aiges run` and the kernel too."""

    def no_return(side: str) -> Path:
        folder = _copy(tmp_path, "params", side)
        source = (folder / "wrapper.py").read_text()
        changed = source.replace(
            "    def wrapperInit(self, config):\n        return 0",
            "    def wrapperInit(self, config):\n        self.ready = True",
        )
        assert changed != source
        (folder / "wrapper.py").write_text(changed)
        return folder

    got = json.loads(sdk(real_aiges, no_return("sdk"), "serve", {"times": "1"}))
    assert got["ret"] == 30002
    ran = ours(no_return("easlab"), "run", ".")
    assert ran.returncode == 1, ran.stdout
    assert "wrapperInit returned None: return 0 when init succeeds" in ran.stdout
    spec = {"name": "aiges_no_return", "processor": "aiges", "metadata": {"instance": 1}}
    svc = kernel.create({**spec, "processor_path": str(no_return("kernel"))})
    try:
        assert svc.status == "Failed"
        assert "wrapperInit returned None: return 0" in (svc.desc.get("message") or "")
    finally:
        kernel.delete("aiges_no_return")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


#: (wrapper, request body, the field the 400 names): bodies the SDK's own schema document
#: refuses (type, minLength, maxLength), each sent to the kernel
SCHEMA_REFUSES = [
    ("image", {"payload": {"img": {"image": ""}}}, "payload.img.image"),
    ("image", {"header": {"appid": 7}}, "header.appid"),
    ("image", {"header": {"appid": "a" * 51}}, "header.appid"),
    # a header without appid: the document's header has "required": ["appid"] (it was served)
    ("echo", {"header": {"appid": None}}, "header.appid"),
    ("image", {"parameter": {"imgsvc": {"size": True}}}, "parameter.imgsvc.size"),
    ("echo", {"payload": {"text": {"text": "aGk=", "status": True}}}, "payload.text.status"),
    ("echo", {"payload": {"text": {"text": "aGk=", "seq": "1"}}}, "payload.text.seq"),
    ("echo", {"parameter": {"echo": []}}, "parameter.echo"),
]


def _valid_base(name: str) -> dict:
    if name == "image":
        return {
            "header": {"appid": "t"},
            "parameter": {"imgsvc": {"size": 3}},
            "payload": {"img": {"encoding": "png", "status": 3, "image": _b64(b"\x01\x02")}},
        }
    return {
        "header": {"appid": "t"},
        "parameter": {"echo": {}},
        "payload": {"text": {"encoding": "utf8", "status": 3, "text": _b64(b"hi")}},
    }


def _merged(base: dict, change: dict) -> dict:
    out = dict(base)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture(scope="module")
def schema_svcs(kernel, tmp_path_factory):
    made = {}
    for name in ("image", "echo"):
        folder = copy_wrapper(name, tmp_path_factory.mktemp(f"schema_{name}"))
        spec = {"name": f"aiges_schema_{name}", "processor": "aiges", "processor_path": str(folder)}
        svc = kernel.create({**spec, "token": "tok-schema-xxxx", "metadata": {"instance": 1}})
        assert svc.status == "Running", svc.desc.get("message")
        made[name] = svc
    yield made
    for name in made:
        kernel.delete(f"aiges_schema_{name}")


def test_what_the_sdks_schema_refuses_the_kernel_refuses_naming_the_field(
    real_aiges, tmp_path, schema_svcs
):
    """The webgate checks a request against the wrapper's schema document: the document the
    real SDK makes (jsonschema judging it here) refuses these bodies, and the kernel answers
    each with a 400 naming the field (it served them: an empty image, a numeric appid, a
    boolean status went to the wrapper). 3.0 for an integer is valid to both."""
    import jsonschema

    documents = {
        name: json.loads(sdk(real_aiges, _copy(tmp_path, name, "sdk"), "schema"))["schemainput"]
        for name in ("image", "echo")
    }

    def send(name: str, body: dict) -> requests.Response:
        return requests.post(
            schema_svcs[name].url,
            data=json.dumps(body),
            headers={"Authorization": "tok-schema-xxxx"},
            timeout=30,
        )

    for name, change, field in SCHEMA_REFUSES:
        body = _merged(_valid_base(name), change)
        body["header"] = {k: v for k, v in body["header"].items() if v is not None}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(body, documents[name])
        r = send(name, body)
        assert r.status_code == 400, (change, r.text)
        assert r.json()["header"]["message"].startswith(field + ":"), (change, r.text)
    integral = _merged(_valid_base("image"), {"parameter": {"imgsvc": {"size": 3.0}}})
    jsonschema.validate(integral, documents["image"])
    r = send("image", integral)
    assert r.status_code == 200, r.text
    assert base64.b64decode(r.json()["payload"]["info"]["text"]) == b"size=3 bytes=2"


def test_an_input_left_out_is_left_out_as_the_sdks_schema_allows(real_aiges, tmp_path, kernel):
    """The SDK's document declares no `required` payload: a body without one of the inputs
    is valid to it, and the loader hands the wrapper what came (``reqData.get(key)`` is
    None). The kernel refused it (400 "required input is missing"), so a wrapper with an
    optional input could not be called without it; now it is served, and a wrapper that
    needs the input fails with its own error and a word on what the request left out."""
    import jsonschema

    folder = copy_wrapper("optional", tmp_path / "optional")
    document = json.loads(sdk(real_aiges, _copy(tmp_path, "optional", "sdk"), "schema"))
    spec = {"name": "aiges_optional", "processor": "aiges", "processor_path": str(folder)}
    svc = kernel.create({**spec, "token": "tok-optional-xx", "metadata": {"instance": 1}})
    try:
        assert svc.status == "Running", svc.desc.get("message")

        def send(payload: dict) -> requests.Response:
            body = {"header": {"appid": "t"}, "parameter": {"opt": {}}, "payload": payload}
            jsonschema.validate(body, document["schemainput"])  # valid to the SDK's schema
            return requests.post(
                svc.url,
                data=json.dumps(body),
                headers={"Authorization": "tok-optional-xx"},
                timeout=30,
            )

        def out(r: requests.Response) -> bytes:
            assert r.status_code == 200, r.text
            return base64.b64decode(r.json()["payload"]["out"]["text"])

        assert out(send({"text": {"text": _b64(b"a")}, "hint": {"text": _b64(b"b")}})) == (
            b"a|b|text,hint"
        )
        assert out(send({"text": {"text": _b64(b"a")}})) == b"a|-|text"
        r = send({"hint": {"text": _b64(b"b")}})
        assert r.status_code == 500, r.text
        message = r.json()["header"]["message"]
        assert message.startswith("wrapperOnceExec raised AttributeError: "), message
        assert message.endswith(
            "(the request left out payload.text: reqData.get('text') is None, as on the platform)"
        ), message
    finally:
        kernel.delete("aiges_optional")


def test_a_stream_template_wrapper_runs_under_the_sdk_and_easlab_alike(real_aiges, tmp_path):
    """The same session wrapper (aiges.stream slots, results through callback) goes through
    the SDK's run(stream=True) and `easlab aiges run`: both create, write and get the
    one DataEnd result, the upper-cased test text."""
    folder = _copy(tmp_path, "stream_pool", "sdk")
    env = _env(None)
    env.pop("PYTHONPATH", None)  # the real SDK only, never easlab
    script = "import wrapper; wrapper.Wrapper().run(stream=True); print('stream run done')"
    proc = subprocess.run(
        [str(real_aiges), "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "get callback: out: len 3, type: text, status: end" in proc.stdout, proc.stdout
    assert "stream run done" in proc.stdout
    got = ours(_copy(tmp_path, "stream_pool", "ours"), "run", ".")
    assert got.returncode == 0, got.stdout + got.stderr
    assert "out (text, 3 bytes): ABC" in got.stdout, got.stdout


def test_session_hooks_get_what_the_sdks_grpc_plugin_passes_them(real_aiges, tmp_path):
    """The SDK template's wrapperCreate(self, params, sid, userTag="", persId=0) goes through
    the SDK's loader service (aiges serve.py: wrapperCreate(params, sid=..., userTag=...),
    wrapperWrite(handle, req, sid)) and `easlab aiges run` with AIGES_PLUGIN_MODE=python:
    each hook gets the same values, and the result comes through the plugin's callback."""
    theirs_rec, ours_rec = tmp_path / "theirs.jsonl", tmp_path / "ours.jsonl"
    folder = _copy(tmp_path, "stream_tags", "sdk")
    done = json.loads(sdk(real_aiges, folder, "session", {"sid": "easlab-run"}, theirs_rec))
    assert done == {"handle": "h-easlab-run", "err": 0, "ret": 0}
    got = subprocess.run(
        [sys.executable, "-m", "easlab", "aiges", "run", "."],
        capture_output=True,
        text=True,
        env={**_env(ours_rec), "AIGES_PLUGIN_MODE": "python"},
        cwd=_copy(tmp_path, "stream_tags", "easlab"),
        timeout=120,
    )
    assert got.returncode == 0, got.stdout + got.stderr
    assert "out (text, 3 bytes): ABC" in got.stdout, got.stdout
    assert "warning" not in got.stdout, got.stdout  # it fits the plugin
    assert records(ours_rec) == records(theirs_rec)
    assert records(ours_rec)[0] == {
        "event": "create",
        "sid": "easlab-run",
        "userTag": "easlab-run",
        "persId": 0,
    }


def test_a_wrapper_write_answering_none_is_taken_under_the_plugin_failed_under_the_loader(
    real_aiges, tmp_path
):
    """aiges's gRPC plugin (aiges serve.py) sends wrapperWrite's answer as the protobuf
    Ret(ret=...), where None is the unset field, 0: the write is taken and the session
    goes on. easlab failed it in every mode ("wrapperWrite returned None: return 0 ...");
    under AIGES_PLUGIN_MODE=python it is now taken as the plugin takes it, and under the
    C++ loader (which reads an int) it still fails, saying what to return."""
    folders = {side: _copy(tmp_path, "stream_tags", side) for side in ("sdk", "c", "python")}
    for folder in folders.values():
        source = (folder / "wrapper.py").read_text()
        none = source.replace(
            "        callback(r, handle, sid)\n        return 0\n",
            "        callback(r, handle, sid)\n",
        )
        assert none != source
        (folder / "wrapper.py").write_text(none)
    # under the C++ loader userTag gets psrId, an int (the test below): let it make a handle
    fitted = folders["c"] / "wrapper.py"
    fitted.write_text(fitted.read_text().replace('"h-" + userTag', '"h-" + str(userTag)'))
    done = json.loads(sdk(real_aiges, folders["sdk"], "session", {"sid": "easlab-run"}))
    assert done == {"handle": "h-easlab-run", "err": 0, "ret": 0}, done
    run = [sys.executable, "-m", "easlab", "aiges", "run", "."]
    plugin = {**_env(None), "AIGES_PLUGIN_MODE": "python"}
    got = subprocess.run(
        run, capture_output=True, text=True, env=plugin, cwd=folders["python"], timeout=120
    )
    assert got.returncode == 0, got.stdout + got.stderr
    assert "out (text, 3 bytes): ABC" in got.stdout, got.stdout
    c_mode = ours(folders["c"], "run", ".")
    assert c_mode.returncode == 1, c_mode.stdout + c_mode.stderr
    assert (
        "session failed: wrapperWrite returned None, not an int: return 0 when the data is "
        "taken, or an error code that wrapperError explains (the aiges loader reads it as "
        "an int and fails any other value)"
    ) in c_mode.stdout, c_mode.stdout


def test_the_cpp_loader_calls_the_sdk_templates_wrapper_create_by_position(tmp_path):
    """aiges's C++ loader, the default, calls wrapperCreate(params, sid, psrId, usrTag) by
    position (aiges_c_python_wrapper pyWrapper.cpp), so the template's userTag gets psrId
    (0) and its persId the tag: "h-" + userTag fails there. easlab filled userTag by name
    in every mode, so the wrapper passed here and failed on the platform's default loader;
    now it fails here too, after a warning that says why and what to write."""
    rec = tmp_path / "ours.jsonl"
    got = ours(_copy(tmp_path, "stream_tags", "easlab"), "run", ".", record=rec)
    assert got.returncode == 1, got.stdout + got.stderr
    assert got.stdout.startswith(
        "warning: Wrapper.wrapperCreate(self, params, sid, userTag='', persId=0): aiges's C++ "
        "loader (AIGES_PLUGIN_MODE=c, the default) calls wrapperCreate(params, sid, psrId, "
        "usrTag) by position, so userTag gets psrId and persId gets usrTag; easlab passes "
        'them so. Write def wrapperCreate(self, params, sid, persId=0, usrTag="", userTag="") '
        "-> SessionCreateResponse (or run with AIGES_PLUGIN_MODE=python"
    ), got.stdout
    assert (
        "session failed: wrapperCreate raised TypeError: can only concatenate str (not "
        '"int") to str'
    ) in got.stdout, got.stdout
    assert records(rec) == [
        {"event": "create", "sid": "easlab-run", "userTag": 0, "persId": "easlab-run"}
    ]


def test_the_tutorials_wrappers_pass_the_sdks_own_run(real_aiges, tmp_path):
    """notebooks/07-aiges-wrappers.ipynb teaches wrappers a reader copies: each passes the
    SDK's run() as it passes `easlab aiges run`. Its echo wrapper assigned ``l.data = ...``
    and ``l.len = ...``, which the SDK's ResponseData refuses ("property 'data' of
    'ResponseData' object has no setter": its run() and its gRPC plugin failed it).
    And each is written for aiges's C++ loader too (pyWrapper.cpp casts the answer to
    its own aiges_embed types, whose ResponseData constructor takes no keywords): they
    import aiges_embed's types first, as the SDK's template does, and build a
    ResponseData with no arguments."""
    notebook = json.loads((ROOT / "notebooks" / "07-aiges-wrappers.ipynb").read_text())
    written = {}
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        first, _, body = source.partition("\n")
        if cell["cell_type"] == "code" and first.startswith("%%writefile $workdir/"):
            written[first.split("/")[1]] = body
    assert sorted(written) == ["echo", "flip"]
    for name, body in written.items():
        assert fits_the_cpp_loader(body) == [], name
        folder = tmp_path / name
        folder.mkdir()
        (folder / "wrapper.py").write_text(body)
        verdict = json.loads(sdk(real_aiges, folder, "run"))
        assert verdict["verified"], (name, verdict["log"])
        got = ours(folder, "run", ".")
        assert got.returncode == 0 and "verified" in got.stdout, got.stdout + got.stderr


def test_the_sdks_own_sample_wrapper_runs_unchanged_under_both_loaders(real_aiges, tmp_path):
    """aiges 0.16.0 ships a sample wrapper.py (aiges_embed types first, aiges.dto the
    fallback; test files at aiges/test_data/ and test_data/): copied unchanged, its schema
    equals the SDK's, and the SDK's run() and `easlab aiges run` both verify it, under the
    C++ loader (the default) and under AIGES_PLUGIN_MODE=python, its exec hook fitting both."""
    sample = real_aiges.parents[1] / "lib" / "python3.11" / "site-packages" / "aiges" / "wrapper.py"
    png = (ROOT / "tests" / "aiges" / "wrappers" / "image" / "test.png").read_bytes()
    folders = {}
    for side in ("sdk", "easlab"):
        folder = tmp_path / side
        for where in (folder / "aiges" / "test_data", folder / "test_data"):
            where.mkdir(parents=True)
            (where / "test.png").write_bytes(png)
        (folder / "wrapper.py").write_bytes(sample.read_bytes())
        folders[side] = folder
    assert json.loads(ours(folders["easlab"], "schema", "wrapper.py").stdout) == json.loads(
        sdk(real_aiges, folders["sdk"], "schema")
    )
    verdict = json.loads(sdk(real_aiges, folders["sdk"], "run"))
    assert verdict["verified"], verdict["log"]
    for mode in ("c", "python"):
        got = subprocess.run(
            [sys.executable, "-m", "easlab", "aiges", "run", "."],
            capture_output=True,
            text=True,
            env={**_env(None), "AIGES_PLUGIN_MODE": mode},
            cwd=folders["easlab"],
            timeout=120,
        )
        assert got.returncode == 0, (mode, got.stdout + got.stderr)
        assert "boxes (text, 2 bytes): cc" in got.stdout and "warning" not in got.stdout
        # the same inputs reached it: the md5 of the first, which it logs
        md5 = verdict["log"].split("reqData bytes md5sum is ")[1].split()[0]
        assert f"reqData bytes md5sum is {md5}" in got.stderr, (mode, got.stderr)


def test_a_wrapper_the_plugin_cannot_make_is_refused_under_the_python_plugin(real_aiges, tmp_path):
    """aiges's gRPC plugin makes the instance with Wrapper(legacy=False, is_aipaas=True,
    keep_schema_default_value=True) (aiges serve.py), the C++ loader with Wrapper(): a
    wrapper with an ``__init__(self)`` of its own fails the plugin's init (INIT_ERROR
    30001). easlab made every wrapper with Wrapper(), so such a wrapper passed under
    AIGES_PLUGIN_MODE=python; now that run is refused saying what to write, and the C++
    loader's run still passes."""

    def own_init(side: str) -> Path:
        folder = _copy(tmp_path, "params", side)
        source = (folder / "wrapper.py").read_text()
        changed = source.replace(
            "    def wrapperInit(self, config):",
            "    def __init__(self):\n        super().__init__()\n\n"
            "    def wrapperInit(self, config):",
        )
        assert changed != source
        (folder / "wrapper.py").write_text(changed)
        return folder

    got = json.loads(sdk(real_aiges, own_init("sdk"), "serve", {"times": "1"}))
    assert got["ret"] == 30001, got
    folder = own_init("easlab")
    plugin = subprocess.run(
        [sys.executable, "-m", "easlab", "aiges", "run", "."],
        capture_output=True,
        text=True,
        env={**_env(None), "AIGES_PLUGIN_MODE": "python"},
        cwd=folder,
        timeout=120,
    )
    assert plugin.returncode == 2, plugin.stdout + plugin.stderr
    assert plugin.stderr.startswith(
        "easlab aiges: Wrapper() cannot be made as aiges's Python plugin "
        "(AIGES_PLUGIN_MODE=python) makes the wrapper, Wrapper(legacy=False, is_aipaas=True, "
        "keep_schema_default_value=True): write def __init__(self, *args, **kwargs) and call "
        "super().__init__(*args, **kwargs)"
    ), plugin.stderr
    assert ours(folder, "run", ".").returncode == 0


MAPS_WRAPPER = """
# ruff: noqa
# Reports how its params and config behave where the loaders differ: a key not there,
# "in", the type, json.dumps, a value that is not a string.
import json

from aiges.sdk import WrapperBase, StringBodyField
from aiges.dto import Response, ResponseData, DataListCls
from aiges.core.types import *


class UserRequest(object):
    text = StringBodyField(key="text", value=b"abc")


class UserResponse(object):
    out = StringBodyField(key="out")


def probe(m):
    seen = {"absent": m["absent"], "in_after": "absent" in m, "dict": isinstance(m, dict)}
    seen["get"] = m.get("other")
    try:
        json.dumps(m)
        seen["json"] = "ok"
    except TypeError:
        seen["json"] = "TypeError"
    try:
        m["n"] = 1
        seen["set_int"] = "ok"
    except TypeError:
        seen["set_int"] = "TypeError"
    seen["plain"] = sorted(dict(m))
    return seen


class Wrapper(WrapperBase):
    serviceId = "maps"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()

    def wrapperInit(self, config):
        self.init_seen = probe(config)
        return 0

    def wrapperOnceExec(self, params, reqData):
        seen = {"config": self.init_seen, "params": probe(params)}
        out = ResponseData()
        out.key = "out"
        out.setDataType(DataText)
        out.setData(json.dumps(seen, sort_keys=True).encode())
        res = Response()
        res.list = [out]
        return res
"""


def test_params_and_config_behave_as_the_python_plugins_protobuf_maps(real_aiges, tmp_path):
    """aiges's gRPC plugin (AIGES_PLUGIN_MODE=python, aiges serve.py) hands wrapperInit and
    wrapperOnceExec the protobuf map<string, string> of its request, not a dict: a key not
    there reads "" (and is added), json.dumps refuses it, a value must be a string. easlab
    handed both a dict there, so ``params["opt"]`` for a param not sent was a KeyError
    under easlab and "" on the platform. Side by side with the SDK's own plugin service;
    the C++ loader (the default) hands dicts, as pybind11 converts its std::map."""
    theirs_dir = tmp_path / "sdk" / "maps"
    ours_dir = tmp_path / "ours" / "maps"
    for folder in (theirs_dir, ours_dir):
        folder.mkdir(parents=True)
        (folder / "wrapper.py").write_text(MAPS_WRAPPER)
    theirs = json.loads(sdk(real_aiges, theirs_dir, "serve", {"sid": "easlab-run"}))
    assert theirs["ret"] == 0, theirs
    expected = json.loads(theirs["answers"][0])
    assert expected["params"]["absent"] == "" and expected["params"]["json"] == "TypeError"

    ran = subprocess.run(
        [sys.executable, "-m", "easlab", "aiges", "run", "."],
        capture_output=True,
        text=True,
        env={**_env(None), "AIGES_PLUGIN_MODE": "python"},
        cwd=ours_dir,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    line = next(x for x in ran.stdout.splitlines() if x.startswith("out (text"))
    got = json.loads(line.split("): ", 1)[1])
    assert got == expected, (got, expected)  # no config here, none from the loader there

    c_mode = subprocess.run(
        [sys.executable, "-m", "easlab", "aiges", "run", "."],
        capture_output=True,
        text=True,
        env=_env(None),
        cwd=ours_dir,
        timeout=120,
    )
    assert c_mode.returncode == 1, c_mode.stdout + c_mode.stderr
    assert "KeyError: 'absent'" in c_mode.stdout, c_mode.stdout


def test_an_error_response_under_the_python_plugin_is_what_the_plugin_makes_of_it(
    real_aiges, tmp_path
):
    """aiges's gRPC plugin (aiges serve.py) never reads a Response's error_code: the err
    wrapper's ``Response().response_err(1001)`` goes out as its one blank output, a
    success with the error lost; with no outputs it is the plugin's error 30003. Under
    AIGES_PLUGIN_MODE=python easlab answered the wrapper's code and message, as the C++
    loader does, so the error handling a user tested here vanished on the platform. Now
    both are failures saying what the plugin does and how to fail a request there."""
    theirs_dir = _copy(tmp_path, "err", "sdk")
    ours_dir = _copy(tmp_path, "err", "ours")
    theirs = json.loads(sdk(real_aiges, theirs_dir, "serve", {"sid": "easlab-run"}))
    assert theirs == {"ret": 0, "answers": [""], "exec_ret": 0}, theirs  # success, blank

    plugin = {**_env(None), "AIGES_PLUGIN_MODE": "python"}
    easlab_run = [sys.executable, "-m", "easlab", "aiges", "run", "."]
    ran = subprocess.run(
        easlab_run, capture_output=True, text=True, env=plugin, cwd=ours_dir, timeout=120
    )
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert (
        "invalid response: wrapperOnceExec answered error 1001 (识别无结果), but aiges's "
        "Python plugin (AIGES_PLUGIN_MODE=python) ignores a Response's error_code and "
        "answers the outputs in its list, here '' (the blank one aiges.dto's Response() "
        "holds): on the platform the request succeeds and the caller never sees the error; "
        "to fail a request there return a Response with no outputs (r.list = [], its error "
        "30003)"
    ) in ran.stdout, ran.stdout
    c_mode = subprocess.run(
        easlab_run, capture_output=True, text=True, env=_env(None), cwd=ours_dir, timeout=120
    )
    assert "wrapper answered error 1001: 识别无结果" in c_mode.stdout, c_mode.stdout

    # no outputs: the plugin answers its own 30003, not the wrapper's code
    for folder in (theirs_dir, ours_dir):
        source = (folder / "wrapper.py").read_text()
        empty = source.replace(
            "        return Response().response_err(1001)",
            "        r = Response()\n        r.list = []\n        return r.response_err(1001)",
        )
        assert empty != source
        (folder / "wrapper.py").write_text(empty)
    theirs = json.loads(sdk(real_aiges, theirs_dir, "serve", {"sid": "easlab-run"}))
    assert theirs == {"ret": 0, "answers": [], "exec_ret": 30003}, theirs
    ran = subprocess.run(
        easlab_run, capture_output=True, text=True, env=plugin, cwd=ours_dir, timeout=120
    )
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert (
        "a Response with no outputs is its error 30003 (USER_EXEC_ERROR), the wrapper's "
        "code and message lost"
    ) in ran.stdout, ran.stdout
