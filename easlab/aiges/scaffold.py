"""``easlab aiges create -n NAME``: a wrapper project that runs as generated.

Unlike ``python -m aiges create`` (which needs ``pkg_resources`` and writes a
Dockerfile pulling iFlytek's images), the project holds a working text
wrapper with an enum parameter, its test input, a README and a service.json
for the local kernel.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

WRAPPER = '''"""{name}: an aiges wrapper (iFlytek). Run it: `easlab aiges run wrapper.py`."""

import os

from aiges.core.types import *
from aiges.sdk import StringBodyField, StringParamField, WrapperBase
from aiges.utils.log import log

try:  # aiges's C++ loader casts the answer back to its own types
    from aiges_embed import DataListCls, Response, ResponseData
except ImportError:  # the SDK, aiges's Python plugin
    from aiges.dto import DataListCls, Response, ResponseData

HERE = os.path.dirname(os.path.abspath(__file__))


def _test_text():
    with open(os.path.join(HERE, "test_data", "input.txt"), "rb") as f:
        return f.read()


class UserRequest(object):
    """Request fields: *ParamField are parameters, *BodyField the payload inputs."""

    mode = StringParamField(key="mode", enums=["upper", "lower"], value="upper")
    text = StringBodyField(key="text", value=_test_text())


class UserResponse(object):
    """Response fields: the outputs wrapperOnceExec may answer."""

    result = StringBodyField(key="result")


class Wrapper(WrapperBase):
    serviceId = "{service_id}"
    version = "v1"
    requestCls = UserRequest()
    responseCls = UserResponse()
    # what wrapperInit gets in a local run; a service passes its model_config instead
    config = {{"prefix": "{name}: "}}

    def wrapperInit(self, config: dict) -> int:
        log.info("init with %s", config)
        self.prefix = config.get("prefix", "")
        return 0

    def wrapperOnceExec(self, params: dict, reqData: DataListCls) -> Response:
        text = reqData.get("text").data.decode("utf-8")
        if not text.strip():
            return Response().response_err(1001)
        # every params value is a string, as the platform's loader passes it:
        # convert numbers and booleans yourself (int(params["n"]), params["b"] == "true")
        text = text.upper() if params["mode"] == "upper" else text.lower()
        out = ResponseData()  # the C++ loader's takes no keywords
        out.key, out.status = "result", Once
        out.setDataType(DataText)
        out.setData((self.prefix + text).encode("utf-8"))
        res = Response()
        res.list = [out]
        return res

    def wrapperError(self, ret: int) -> str:
        return {{1001: "empty text"}}.get(ret, f"error {{ret}}")

    def wrapperFini(self) -> int:
        return 0


if __name__ == "__main__":
    Wrapper().run()
'''

README = """# {name}

An aiges (iFlytek) inference wrapper, made with `easlab aiges create`.

- `wrapper.py` — the `Wrapper` class: its request fields (`UserRequest`), its
  outputs (`UserResponse`) and `wrapperInit` / `wrapperOnceExec` / `wrapperError`.
- `test_data/input.txt` — the text a local run sends.
- `service.json` — serves it in the easlab kernel.

Run it once (init → exec → fini, the answer shown, non-zero exit on failure):

    easlab aiges run wrapper.py
    easlab aiges run wrapper.py --param mode=lower --input text=test_data/input.txt

The webgate schema for the platform:

    easlab aiges schema wrapper.py > schema.json

Serve it locally and call it with the webgate JSON:

    easlab kernel start          # once: a local serving kernel, in the background
    easlab create service.json
    curl $URL -H "Authorization: $TOKEN" -d '{{"parameter": {{"{service_id}": {{"mode": "upper"}}}},
      "payload": {{"text": {{"encoding": "utf8", "status": 3, "text": "aGVsbG8="}}}}}}'
"""


def create_project(name: str, path: str | Path = ".") -> Path:
    """Write the project folder ``path/name``; refuses to overwrite one that exists."""
    if not name or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name):
        raise ValueError(
            f"project name {name!r}: use letters, digits, _ and -, starting with a letter"
        )
    folder = Path(path) / name
    if folder.exists():
        raise FileExistsError(f"{folder} already exists: choose another name or --path")
    service_id = re.sub(r"[^a-z0-9_]", "_", name.lower())
    (folder / "test_data").mkdir(parents=True)
    (folder / "wrapper.py").write_text(WRAPPER.format(name=name, service_id=service_id))
    (folder / "test_data" / "input.txt").write_text("Hello from aiges\n")
    (folder / "README.md").write_text(README.format(name=name, service_id=service_id))
    (folder / "requirements.txt").write_text("# the wrapper's own dependencies\n")
    spec = {
        "name": service_id,
        "processor": "aiges",
        "processor_path": ".",
        "model_config": {"prefix": f"{name}: "},
        "metadata": {"instance": 1},
    }
    (folder / "service.json").write_text(json.dumps(spec, indent=2) + "\n")
    return folder
