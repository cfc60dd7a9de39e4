"""A loopback STAND-IN for the PAI-EAS OpenAPI (2021-07-01, ROA style); not the real service.

It checks what the real service checks that can be checked offline, and
answers in the shapes of the official SDK's models (``alibabacloud_eas20210701.models``):

- ``Authorization``: recomputed from the request with the test's AccessKey secret —
  ``ACS3-HMAC-SHA256`` (the SDK's default: canonical request of method, path,
  sorted query, the signed headers, the body's SHA-256) or the older ROA form
  ``acs <AccessKeyId>:<base64 HMAC-SHA1>``; ``x-acs-content-sha256`` against the body;
- ``x-acs-action`` / ``x-acs-version`` against the method and path of each action;
- the query keys each action allows; the JSON body against the seed manual's
  service.json fields (name, or metadata.name as the JSON deployment page writes it;
  metadata.instance, model_path: oss:// (oss_endpoint optional: the current "Parameters
  of model services" page says the region's own is used) or http(s), never a local
  path; processor codes EAS has). Other fields (cloud, storage, containers ...) are kept
  as sent and given back in ServiceConfig, unchecked.

Services move Creating → Running after a few DescribeService calls (``Failed``
when the model_path contains ``broken``), like a slow cloud; with ``waiting_message``
they stay ``Waiting`` with it, as EAS keeps a service whose resources are not there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

ACCESS_KEY_ID = "LTAI5tStandInTestKey"
ACCESS_KEY_SECRET = "stand-in-secret-0123456789"
VERSION = "2021-07-01"
_SERVICES = "/api/v2/services"
_ONE = rf"{_SERVICES}/(?P<cluster>[^/]+)/(?P<name>[^/]+)"
#: (method, path pattern, action, allowed query keys) — from the SDK's *_with_options
ROUTES: list[tuple[str, str, str, frozenset[str]]] = [
    ("POST", _SERVICES, "CreateService", frozenset({"Develop", "Labels", "WorkspaceId"})),
    (
        "GET",
        _SERVICES,
        "ListServices",
        frozenset(
            "Filter Gateway GroupName Label Order PageNumber PageSize ParentServiceUid QuotaId "
            "ResourceName ResourceType Role ServiceName ServiceStatus ServiceType ServiceUid "
            "Sort WorkspaceId".split()
        ),
    ),
    ("GET", _ONE, "DescribeService", frozenset()),
    ("PUT", _ONE, "UpdateService", frozenset({"UpdateType"})),
    ("DELETE", _ONE, "DeleteService", frozenset()),
    ("PUT", _ONE + "/version", "UpdateServiceVersion", frozenset()),
    ("PUT", _ONE + "/release", "ReleaseService", frozenset()),
    ("PUT", _ONE + "/start", "StartService", frozenset()),
    ("PUT", _ONE + "/stop", "StopService", frozenset()),
    (
        "GET",
        _ONE + "/instances",
        "ListServiceInstances",
        frozenset(
            "Filter HostIP InstanceIP InstanceName InstanceStatus InstanceType IsSpot Order "
            "PageNumber PageSize ResourceType Role Sort".split()
        ),
    ),
    (
        "GET",
        _ONE + "/logs",
        "DescribeServiceLog",
        frozenset(
            "ContainerName EndTime InstanceName Ip Keyword PageNum PageSize Previous "
            "StartTime".split()
        ),
    ),
]
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,126}$")
#: built-in processor codes EAS has (SPEC §5), by prefix
_EAS_PROCESSORS = (
    "pmml",
    "tensorflow_cpu",
    "tensorflow_gpu",
    "pytorch_cpu",
    "pytorch_gpu",
    "caffe",
    "parameter_sever",
    "alink_pai_processor",
    "xnn_cpu",
    "easy_vision",
    "easy_nlp",
    "blade",
    "mediaflow",
    "onnx",
)


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str, *, page: bool = False) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        #: answered as a gateway's HTML page, not the API's JSON
        self.page = page


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    action: str = ""
    status: int = 0
    signature: str = ""  # "ACS3-HMAC-SHA256" or "acs"

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class StandIn:
    region: str = "cn-hangzhou"
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    #: DescribeService calls a new or changed service stays Creating/Updating for
    settle_after: int = 2
    #: set: a new or changed service stays Waiting with this message (EAS out of resources)
    waiting_message: str | None = None
    #: lines in each service's log
    log_lines: int = 120
    #: set: every signed call is refused so (status, code, message): Forbidden, Throttling ...
    refuse: tuple[int, str, str] | None = None
    #: how many signed calls ``refuse`` refuses before answering again (None: every one)
    refuse_calls: int | None = None
    #: ``refuse`` comes as the HTML page of a gateway in front of the API (a 502 ...)
    refuse_as_page: bool = False
    #: set: ``refuse`` refuses this action only, after doing it (its answer lost on the way
    #: back, as a gateway's 504 after EAS created the service)
    refuse_after: str | None = None
    #: set: ``refuse`` refuses this action only, without doing it (EAS refusing a
    #: CreateService over a quota after its uploads went up)
    refuse_only: str | None = None
    #: seconds this server's clock is ahead of the machine's (a request dated more than
    #: 15 minutes off is refused, as Alibaba Cloud's API refuses it)
    clock_ahead: float = 0.0
    #: set: each call waits for this event (at most 30 s) before it is answered, as a slow
    #: API does; the test sets it when it has seen what the client did meanwhile
    hold: threading.Event | None = None
    #: DescribeService calls of a service just created answered InvalidService.NotFound
    #: (None: every one), as EAS answers for a moment after a CreateService
    hidden_after_create: int | None = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def actions(self) -> list[str]:
        return [r.action for r in self.requests]

    # -- the checks ---------------------------------------------------------------------

    def check_signature(self, rec: Recorded) -> None:
        auth = rec.headers.get("authorization", "")
        if auth.startswith("ACS3-HMAC-SHA256 "):
            self._check_acs3(rec, auth)
            rec.signature = "ACS3-HMAC-SHA256"
        elif auth.startswith("acs "):
            self._check_roa_v2(rec, auth)
            rec.signature = "acs"
        else:
            raise Refused(400, "MissingAuthorization", "Authorization header missing or malformed")

    def _check_acs3(self, rec: Recorded, auth: str) -> None:
        fields = dict(
            part.strip().split("=", 1) for part in auth[len("ACS3-HMAC-SHA256 ") :].split(",")
        )
        if fields.get("Credential") != ACCESS_KEY_ID:
            raise Refused(401, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        signed = fields.get("SignedHeaders", "").split(";")
        needed = {
            "host",
            "x-acs-action",
            "x-acs-version",
            "x-acs-date",
            "x-acs-signature-nonce",
            "x-acs-content-sha256",
        }
        if not needed <= set(signed):
            raise Refused(400, "IncompleteSignature", f"signed headers lack {needed - set(signed)}")
        sent = datetime.strptime(rec.headers.get("x-acs-date", ""), "%Y-%m-%dT%H:%M:%SZ")
        if (
            abs(time.time() + self.clock_ahead - sent.replace(tzinfo=timezone.utc).timestamp())
            > 900
        ):
            raise Refused(
                400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
            )
        payload = hashlib.sha256(rec.body).hexdigest()
        if rec.headers.get("x-acs-content-sha256") != payload:
            raise Refused(400, "ContentSHA256Mismatch", "x-acs-content-sha256 is not the body's")
        query = "&".join(f"{k}={quote(v, safe='~')}" for k, v in sorted(rec.query.items()))
        headers = "".join(f"{h}:{rec.headers.get(h, '').strip()}\n" for h in signed)
        canonical = "\n".join([rec.method, rec.path, query, headers, ";".join(signed), payload])
        to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
        expected = hmac.new(
            ACCESS_KEY_SECRET.encode(), to_sign.encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, fields.get("Signature", "")):
            raise Refused(
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
            )

    def _check_roa_v2(self, rec: Recorded, auth: str) -> None:
        key_id, _, signature = auth[len("acs ") :].partition(":")
        if key_id != ACCESS_KEY_ID:
            raise Refused(401, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        h = rec.headers
        acs = "".join(f"{k}:{h[k]}\n" for k in sorted(h) if k.startswith("x-acs-"))
        resource = rec.path
        if rec.query:
            resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in sorted(rec.query.items()))
        to_sign = (
            f"{rec.method}\n{h.get('accept', '')}\n{h.get('content-md5', '')}\n"
            f"{h.get('content-type', '')}\n{h.get('date', '')}\n{acs}{resource}"
        )
        expected = base64.b64encode(
            hmac.new(ACCESS_KEY_SECRET.encode(), to_sign.encode(), hashlib.sha1).digest()
        ).decode()
        if not hmac.compare_digest(expected, signature):
            raise Refused(
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
            )

    def route(self, rec: Recorded) -> tuple[str, dict[str, str]]:
        for method, pattern, action, allowed in ROUTES:
            m = re.fullmatch(pattern, rec.path)
            if m and method == rec.method:
                if rec.headers.get("x-acs-action") != action:
                    raise Refused(
                        400,
                        "InvalidAction",
                        f"{rec.method} {rec.path} is {action}, "
                        f"x-acs-action says {rec.headers.get('x-acs-action')}",
                    )
                if rec.headers.get("x-acs-version") != VERSION:
                    raise Refused(400, "InvalidVersion", f"x-acs-version must be {VERSION}")
                extra = set(rec.query) - allowed
                if extra:
                    raise Refused(
                        400, "InvalidParameter", f"{action} takes no query {sorted(extra)}"
                    )
                params = {k: unquote(v) for k, v in m.groupdict().items()}
                if params.get("cluster", self.region) != self.region:
                    raise Refused(
                        400, "InvalidParameter", f"ClusterId {params['cluster']} is not this region"
                    )
                return action, params
        raise Refused(404, "InvalidAction.NotFound", f"no action at {rec.method} {rec.path}")

    def check_service_json(self, spec: Any, partial: bool = False) -> None:
        if not isinstance(spec, dict):
            raise Refused(400, "InvalidParameter", "the body must be a service.json object")
        if not partial:
            # the JSON deployment page's own example names the service in metadata alone
            name = _name_of(spec)
            if not isinstance(name, str) or not _NAME.match(name):
                raise Refused(400, "InvalidParameter", f"invalid field name: {name!r}")
            meta = spec.get("metadata")
            if not isinstance(meta, dict) or "instance" not in meta:
                raise Refused(400, "InvalidParameter", "field metadata.instance is required")
        meta = spec.get("metadata") or {}
        if "instance" in meta and not (str(meta["instance"]).isdigit()):
            raise Refused(
                400, "InvalidParameter", "metadata.instance must be a non-negative integer"
            )
        for key in ("model_path", "processor_path"):
            value = spec.get(key)
            if value is None:
                continue
            scheme = urlsplit(str(value)).scheme
            if scheme not in ("oss", "http", "https"):
                raise Refused(
                    400,
                    "InvalidParameter",
                    f"{key} must be an oss:// or http(s) URL, got {value!r}",
                )
        code = spec.get("processor")
        if code is not None and not str(code).startswith(_EAS_PROCESSORS):
            raise Refused(
                400, "InvalidParameter", f"processor {code!r} is not a built-in processor"
            )

    # -- the answers --------------------------------------------------------------------

    def _service(self, name: str) -> dict[str, Any]:
        if name not in self.services:
            raise Refused(404, "InvalidService.NotFound", f"Service {name} is not found")
        return self.services[name]

    def _new_service(self, spec: dict[str, Any]) -> dict[str, Any]:
        name = _name_of(spec)
        meta = spec.get("metadata") or {}
        host = f"1234567890.{self.region}.pai-eas.aliyuncs.com"
        return {
            "ServiceName": name,
            "ServiceId": "eas-m-" + uuid.uuid4().hex[:12],
            "Region": self.region,
            "Status": "Creating",
            "Message": "Service is creating",
            "Reason": "",
            "AccessToken": spec.get("token") or base64.b64encode(uuid.uuid4().bytes).decode(),
            "InternetEndpoint": f"http://{host}/api/predict/{name}",
            "IntranetEndpoint": f"http://{host.replace('pai-eas', 'pai-eas-vpc')}/api/predict/{name}",
            "TotalInstance": int(meta.get("instance", 1)),
            "RunningInstance": 0,
            "PendingInstance": int(meta.get("instance", 1)),
            "Cpu": int(meta.get("cpu", 1)),
            "Gpu": int(meta.get("gpu", 0)),
            "Memory": int(meta.get("memory", 4000)),
            "LatestVersion": 1,
            "CurrentVersion": 1,
            "Weight": 100,
            "TrafficState": "standalone",
            "Resource": meta.get("resource", ""),
            "CreateTime": "2026-12-01T00:00:00Z",
            "UpdateTime": "2026-12-01T00:00:00Z",
            "ServiceConfig": json.dumps(spec),
            "_versions": [spec],
            "_polls": 0,
            "_hidden": self.hidden_after_create,
        }

    def _settle(self, svc: dict[str, Any]) -> None:
        if svc["Status"] not in ("Creating", "Updating", "Starting", "Waiting"):
            return
        if self.waiting_message is not None:
            svc.update(Status="Waiting", Message=self.waiting_message)
            return
        svc["_polls"] += 1
        if svc["_polls"] < self.settle_after:
            return
        spec = json.loads(svc["ServiceConfig"])
        if "broken" in str(spec.get("model_path", "")):
            svc.update(
                Status="Failed",
                Reason="ProcessorError",
                Message="Failed to load model: cannot read saved_model.pb",
                RunningInstance=0,
            )
        else:
            svc.update(
                Status="Running",
                Message="Service is Running",
                RunningInstance=svc["TotalInstance"],
                PendingInstance=0,
            )

    def _public(self, svc: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in svc.items() if not k.startswith("_")}

    def answer(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        self.check_signature(rec)
        action, p = self.route(rec)
        rec.action = action
        if self.refuse_after is not None:
            answer = self._answer(rec, action, p)
            if action == self.refuse_after and self.refuse is not None:
                raise Refused(*self.refuse, page=self.refuse_as_page)
            return answer
        if self.refuse_only is not None:
            if action == self.refuse_only and self.refuse is not None:
                raise Refused(*self.refuse, page=self.refuse_as_page)
            return self._answer(rec, action, p)
        if self.refuse is not None and self.refuse_calls != 0:
            if self.refuse_calls is not None:
                self.refuse_calls -= 1
            raise Refused(*self.refuse, page=self.refuse_as_page)
        return self._answer(rec, action, p)

    def _answer(self, rec: Recorded, action: str, p: dict[str, str]) -> tuple[int, dict[str, Any]]:
        rid = str(uuid.uuid4()).upper()
        body = rec.json() if rec.body else None
        if action == "CreateService":
            self.check_service_json(body)
            name = _name_of(body)
            if name in self.services:
                raise Refused(400, "ServiceAlreadyExists", f"Service {name} already exists")
            svc = self.services[name] = self._new_service(body)
            return 200, {
                "RequestId": rid,
                **{
                    k: svc[k]
                    for k in (
                        "ServiceId",
                        "ServiceName",
                        "Status",
                        "Region",
                        "InternetEndpoint",
                        "IntranetEndpoint",
                    )
                },
            }
        if action == "ListServices":
            size, page = int(rec.query.get("PageSize", 100)), int(rec.query.get("PageNumber", 1))
            items = [self._public(s) for s in self.services.values()]
            return 200, {
                "RequestId": rid,
                "Services": items[(page - 1) * size : page * size],
                "TotalCount": len(items),
                "PageNumber": page,
                "PageSize": size,
            }
        svc = self._service(p["name"])
        if action == "DescribeService":
            if svc["_hidden"] is None or svc["_hidden"] > 0:
                if svc["_hidden"] is not None:
                    svc["_hidden"] -= 1
                raise Refused(404, "InvalidService.NotFound", f"Service {p['name']} is not found")
            self._settle(svc)
            return 200, {"RequestId": rid, **self._public(svc)}
        if action == "UpdateService":
            self.check_service_json(body, partial=True)
            spec = json.loads(svc["ServiceConfig"])
            merged = _merge(spec, body)
            self.check_service_json(merged)
            svc["ServiceConfig"] = json.dumps(merged)
            meta = merged.get("metadata") or {}
            svc["TotalInstance"] = int(meta.get("instance", svc["TotalInstance"]))
            if set(body) - {"metadata"}:  # model/processor fields: a new version
                svc["_versions"].append(merged)
                svc["LatestVersion"] = svc["CurrentVersion"] = len(svc["_versions"])
            svc.update(Status="Updating", _polls=0)
            return 200, {"RequestId": rid, "Message": f"Service [{p['name']}] is updating"}
        if action == "UpdateServiceVersion":
            version = (body or {}).get("Version")
            if not isinstance(version, int) or not 1 <= version <= len(svc["_versions"]):
                raise Refused(400, "InvalidParameter", f"Version {version} does not exist")
            svc["CurrentVersion"] = version
            svc["ServiceConfig"] = json.dumps(svc["_versions"][version - 1])
            svc.update(Status="Updating", _polls=0)
            return 200, {"RequestId": rid, "Message": "ok"}
        if action == "ReleaseService":
            weight = (body or {}).get("Weight")
            if not isinstance(weight, int) or not -1 <= weight <= 1000:
                raise Refused(
                    400, "InvalidParameter", f"Weight must be in [-1, 1000], got {weight!r}"
                )
            svc["Weight"] = weight
            svc["TrafficState"] = (body or {}).get("TrafficState") or "grouping"
            return 200, {"RequestId": rid, "Message": f"Service [{p['name']}] is released"}
        if action == "StopService":
            svc.update(Status="Stopped", RunningInstance=0, Message="Service stopped")
            return 200, {"RequestId": rid, "Message": "ok"}
        if action == "StartService":
            svc.update(Status="Starting", _polls=0)
            return 200, {"RequestId": rid, "Message": "ok"}
        if action == "DeleteService":
            del self.services[p["name"]]
            return 200, {"RequestId": rid, "Message": f"Service [{p['name']}] is deleting"}
        if action == "ListServiceInstances":
            n = svc["RunningInstance"]
            items = [
                {
                    "InstanceName": f"{p['name']}-{i}",
                    "InnerIP": f"10.0.0.{i + 1}",
                    "InstancePort": 8080,
                    "HostIP": "192.168.0.1",
                    "StartAt": "2026-12-01T00:00:01Z",
                    "RestartCount": 0,
                    "Status": "Running",
                    "ReadyProcesses": 1,
                    "TotalProcesses": 1,
                    "Reason": "",
                    "Zone": f"{self.region}-h",
                }
                for i in range(n)
            ]
            return 200, {
                "RequestId": rid,
                "Instances": items,
                "TotalCount": n,
                "PageNumber": 1,
                "PageSize": 100,
            }
        if action == "DescribeServiceLog":
            # pages of PageSize lines, oldest first, as EAS pages a log
            size, page = int(rec.query.get("PageSize", 100)), int(rec.query.get("PageNum", 1))
            lines = [f"[{p['name']}] log line {i}" for i in range(self.log_lines)]
            return 200, {
                "RequestId": rid,
                "Logs": lines[(page - 1) * size : page * size],
                "PageNum": page,
                "TotalCount": len(lines),
                "TotalPageNum": -(-len(lines) // size),
            }
        raise AssertionError(action)


def _name_of(spec: dict[str, Any]) -> Any:
    """``name``, else ``metadata.name`` (Alibaba Cloud's "Deploy services with JSON" page
    writes the name there: {"metadata": {"name": "demo", "instance": 1, ...}})."""
    meta = spec.get("metadata")
    return spec.get("name") or (meta.get("name") if isinstance(meta, dict) else None)


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def serve(standin: StandIn) -> tuple[ThreadingHTTPServer, str]:
    """Start the stand-in on 127.0.0.1 in a thread; (server, "127.0.0.1:port")."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            rec = Recorded(
                self.command,
                parts.path,
                dict(parse_qsl(parts.query, keep_blank_values=True)),
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length) if length else b"",
            )
            kind = "application/json;charset=utf-8"
            with standin.lock:
                standin.requests.append(rec)
            if standin.hold is not None:
                standin.hold.wait(30)
            with standin.lock:
                try:
                    status, body = standin.answer(rec)
                    data = json.dumps(body).encode()
                except Refused as exc:
                    status = exc.status
                    refusal = {
                        "RequestId": str(uuid.uuid4()).upper(),
                        "Code": exc.code,
                        "Message": exc.message,
                    }
                    data = json.dumps(refusal).encode()
                    if exc.page:  # a gateway's page: HTML, no RequestId, no Code
                        kind = "text/html"
                        data = f"<html><body><h1>{status} {exc.message}</h1></body></html>".encode()
            rec.status = status
            try:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # a client that stopped waiting (``hold``)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # a short poll: shutdown() at each test's end waits for it
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    return server, f"127.0.0.1:{server.server_address[1]}"
