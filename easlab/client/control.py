"""Client of the local kernel's control API (ARCHITECTURE.md), and ``connect()``.

``KernelClient`` mirrors eascmd's verbs as methods; ``Service`` is what a
notebook holds after ``create``: its endpoint, token and a ready
``PredictClient``. Errors arrive as ``KernelError`` (``SpecError`` when the
kernel names a service.json field) and an unreachable kernel as
``KernelNotRunning`` that says how to start one.
"""

from __future__ import annotations

import builtins
import html
import json
import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from easlab._auth import masked
from easlab.errors import EaslabError, KernelError, KernelNotRunning, SpecError

if TYPE_CHECKING:  # pragma: no cover
    import requests

    from easlab.client.predict_client import PredictClient

__all__ = ["KernelClient", "Service"]

_API = "/easlab/v1"
_HOW_TO_START = (
    "start one with `easlab kernel start` (in the background) or `easlab serve` (in a "
    "terminal), or `easlab.connect(start=True)` / `easlab.LocalKernel()` in Python"
)
#: local path fields made absolute before a spec leaves this machine's cwd
_PATH_FIELDS = ("model_path", "processor_path")


def _absolutize(spec: dict[str, Any], base_dir: Path | None) -> dict[str, Any]:
    """Make relative local ``model_path``/``processor_path`` absolute (the kernel has another cwd)."""
    base = base_dir or Path.cwd()
    out = dict(spec)
    for key in _PATH_FIELDS:
        value = out.get(key)
        if not isinstance(value, str) or not value.strip() or "://" in value:
            continue
        path = Path(value).expanduser()
        if not path.is_absolute():
            # abspath, not resolve(): a loop of links is the kernel's to report, not a crash
            out[key] = os.path.abspath(base / path)
    return out


def _absolute_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """``-Dmodel_path=./v2.onnx`` with the path made absolute from the current folder, as
    ``_absolutize`` does for a spec given as text (the kernel has another cwd)."""
    paths = {key: value for key, value in overrides.items() if key in _PATH_FIELDS}
    return {**overrides, **_absolutize(paths, None)} if paths else dict(overrides)


def _version_number(version: Any) -> int:
    """``version`` as a whole number; int() truncated (1.9 went to version 1)."""
    if isinstance(version, str) and version.strip().isdigit():
        return int(version)
    if isinstance(version, float) and version.is_integer():
        return int(version)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"version must be a whole number, got {version!r}")
    return version


def _is_html(resp: Any) -> bool:
    """Whether an answer is a web page (another server's error page), not the kernel's."""
    kind = str(resp.headers.get("content-type", "")).lower()
    return "html" in kind or resp.text.lstrip()[:1] == "<"


def _check_url(endpoint: str) -> None:
    """ValueError unless ``endpoint`` is an http(s) URL with a host: "ftp://x" or
    "http://[::1" were sent, and said "the kernel broke off its answer; was it stopped?"."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 (a port that is no number raises here)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"endpoint {endpoint!r} is not a kernel's URL: give http://HOST:PORT, e.g. "
            "http://127.0.0.1:8080 (--endpoint, $EASLAB_ENDPOINT), or pai://REGION for "
            "PAI-EAS; `easlab kernel status` shows the local kernel's endpoint"
        )
    if "/api/predict" in parts.path:  # svc.url, or a console's invoke URL
        base = endpoint.split("/api/predict", 1)[0]
        raise ValueError(
            f"endpoint {endpoint!r} is a service's URL, not the kernel's: give its base, "
            f"connect('{base}') (--endpoint, $EASLAB_ENDPOINT)"
        )


#: where an endpoint was given (KernelClient's ``given_as``): how to use the running
#: kernel instead, how to name PAI-EAS there, and the command that describes a service
_GIVEN_AS = {
    "--endpoint": ("leave --endpoint out", " or pai://REGION for PAI-EAS", "easlab desc"),
    "$EASLAB_ENDPOINT": ("unset EASLAB_ENDPOINT", "", "easlab desc"),
    "%eas target": (
        "`%eas target local`",
        " or `%eas target pai --region REGION` for PAI-EAS",
        "%eas desc",
    ),
    "--target": ("--target local", " or --target pai for PAI-EAS", "%eas desc"),
}

#: where a token given to the client came from, as a refusal says it (CLI and Python)
GIVEN_TOKEN = "the token given (--admin-token, admin_token=)"


class KernelClient:
    """HTTP client of a local kernel's control API.

    >>> k = KernelClient("http://127.0.0.1:8080")          # doctest: +SKIP
    >>> svc = k.create("service.json"); svc.predict(b"hi")  # doctest: +SKIP
    """

    def __init__(
        self,
        endpoint: str,
        timeout: float = 60,
        *,
        admin_token: str | None = None,
        given_as: str = "",
    ) -> None:
        endpoint = endpoint.strip().rstrip("/")
        # where the endpoint was given when not as connect()'s argument ("--endpoint",
        # "$EASLAB_ENDPOINT"): a wrong one is then told in those terms
        self._given_as = given_as
        # a bare word ("mnist") is more likely a service's name than a host: say so
        # when nothing answers there (not_running)
        self._bare_word = endpoint.isidentifier() and endpoint != "localhost"
        if "://" not in endpoint:
            endpoint = "http://" + endpoint
        _check_url(endpoint)
        self.endpoint = endpoint
        self.timeout = timeout
        self._admin_token = admin_token
        # where the token came from, said when the kernel refuses it (never the token)
        self._token_source = GIVEN_TOKEN if admin_token else ""
        self._session: requests.Session | None = None

    def __repr__(self) -> str:
        # never the admin token: a repr ends up in notebooks and logs
        return f"KernelClient({self.endpoint!r})"

    @property
    def admin_token(self) -> str | None:
        """The control API's token: given, else ``$EASLAB_ADMIN_TOKEN``, else the runtime
        file of the kernel at this endpoint (``$EASLAB_HOME/runtime/kernel-<pid>.json``)."""
        if not self._admin_token:
            from easlab.runtime import ADMIN_TOKEN_ENV, admin_token_for

            env = os.environ.get(ADMIN_TOKEN_ENV, "").strip()
            if env:
                self._admin_token, self._token_source = env, f"${ADMIN_TOKEN_ENV}"
            else:
                self._admin_token = admin_token_for(self.endpoint)
                self._token_source = "this machine's runtime file of the kernel"
        return self._admin_token

    def with_own_session(self) -> KernelClient:
        """The same client (endpoint, token and where it came from) with its own HTTP
        session, for another thread: requests sessions are not thread-safe."""
        other = KernelClient(self.endpoint, self.timeout, given_as=self._given_as)
        token = self.admin_token
        if token:
            other.use_admin_token(token, self._token_source)
        return other

    def use_admin_token(self, token: str, source: str) -> None:
        """Send ``token`` from now on; ``source`` says where it came from when refused."""
        self._admin_token, self._token_source = token, source

    def _token_note(self) -> str:
        """Where the admin token sent came from (or that none was found), for a 401."""
        from easlab.runtime import ADMIN_TOKEN_ENV, runtime_dir

        if not self._admin_token:
            return (
                f"no admin token was sent: none given (--admin-token, admin_token=), "
                f"${ADMIN_TOKEN_ENV} is unset, and no runtime file in {runtime_dir()} "
                f"records a kernel at {self.endpoint}"
            )
        note = f"the admin token sent came from {self._token_source}"
        if self._token_source == f"${ADMIN_TOKEN_ENV}":
            note += (
                f" (it comes before the runtime file: unset {ADMIN_TOKEN_ENV} to use the "
                "token of a kernel started on this machine)"
            )
        return note

    # -- transport ---------------------------------------------------------------------

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests

            self._session = requests.Session()
            self._session.trust_env = False  # a loopback kernel must not go through a proxy
        return self._session

    def close(self) -> None:
        """Close pooled connections."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        import requests

        url = self.endpoint + _API + path
        token = self.admin_token
        try:
            resp = self.session.request(
                method,
                url,
                json=body,
                params=params,
                headers={"Authorization": f"Bearer {token}"} if token else None,
                timeout=timeout if timeout is not None else self.timeout,
            )
        except requests.ConnectionError:
            raise self.not_running() from None
        except requests.Timeout:
            raise KernelError(
                0, f"the kernel at {self.endpoint} did not answer {method} {path} in time"
            ) from None
        except requests.RequestException as exc:  # an answer broken off: the kernel stopped
            raise KernelError(
                0,
                f"the kernel at {self.endpoint} broke off its answer to {method} {path} "
                f"({type(exc).__name__}); was it stopped? `easlab kernel status` says",
            ) from None
        try:
            data = resp.json()
        except ValueError:
            data = None
        if resp.status_code >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            if message is None and _is_html(resp):
                # another web server at --endpoint: its whole error page was the message
                raise KernelError(
                    resp.status_code,
                    f"{self.endpoint} answered {method} {path} with an HTML page, not the "
                    "control API's JSON: is it an easlab kernel? `easlab kernel status` "
                    "lists the kernels on this machine",
                ) from None
            message = message or resp.text.strip() or resp.reason
            field = data.get("field") if isinstance(data, dict) else None
            # a 400 naming a field is an invalid service.json; 404/409 stay KernelErrors
            if field and resp.status_code == 400:
                prefix = f"{field}: "
                raise SpecError(
                    field, message[len(prefix) :] if message.startswith(prefix) else message
                )
            if resp.status_code == 401:
                message = f"{message} [{self._token_note()}]"
            raise KernelError(resp.status_code, message)
        if data is None and resp.content:
            raise KernelError(
                resp.status_code,
                f"{self.endpoint} answered {method} {path} with non-JSON; is it an easlab kernel?",
            )
        return data

    def not_running(self) -> KernelNotRunning:
        """The error for a kernel that does not answer at this endpoint."""
        if self._bare_word and self._given_as in _GIVEN_AS:
            name = self.endpoint.removeprefix("http://")
            leave, pai, desc = _GIVEN_AS[self._given_as]
            return KernelNotRunning(
                f"no easlab kernel answers at {self.endpoint}: {self._given_as} takes a "
                "kernel's endpoint, not a service's name: http://127.0.0.1:PORT for the local "
                f"kernel (`easlab kernel status` shows it; {leave} to use the running "
                f"kernel){pai}; for the service {name!r}: `{desc} {name}`"
            )
        if self._bare_word:
            name = self.endpoint.removeprefix("http://")
            return KernelNotRunning(
                f"no easlab kernel answers at {self.endpoint}: connect()'s first argument is "
                f"the kernel's endpoint (e.g. http://127.0.0.1:8080), not a service's name; "
                f"for the service {name!r} write `easlab.connect().service({name!r})`"
            )
        return KernelNotRunning(f"no easlab kernel answers at {self.endpoint}: {_HOW_TO_START}")

    @staticmethod
    def _name(name: str) -> str:
        """``name`` for a URL path: a service's name, or KernelError 404 for what cannot be
        one. "." or "" made ``desc .`` read the service list as a description (an empty
        table, exit 0), and ".." or "a/b" reached another route's "takes GET, not POST"."""
        from easlab.spec import NAME_RE, NAME_RULE

        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            message = (
                f"service {name!r} not found: not a service name ({NAME_RULE}); "
                "`easlab ls` lists the services"
            )
            error = KernelError(404, message)
            error.args = (message,)  # nothing was sent: no "(HTTP 404)"
            raise error
        return quote(name, safe="")

    # -- kernel --------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """``{"pid", "endpoint", "version", "state_dir", "started_at"}``."""
        return self._call("GET", "/kernel")  # type: ignore[no-any-return]

    def gpu(self) -> dict[str, Any]:
        """The kernel host's GPUs: ``{"gpus": [...], "source": ...}``."""
        return self._call("GET", "/gpu")  # type: ignore[no-any-return]

    def shutdown(self) -> None:
        """Ask the kernel to stop (its services stop with it)."""
        self._call("POST", "/shutdown")

    # -- services ------------------------------------------------------------------------

    def create(
        self,
        spec: dict[str, Any] | str | Path,
        blue_green: bool = False,
        allow_cpu_fallback: bool = False,
        *,
        wait: bool = True,
        timeout: float | None = None,
        allow_unknown_keys: bool = False,
    ) -> Service:
        """Create a service from a service.json dict, path, or JSON/YAML text.

        The description is validated here first (``SpecError`` before any
        HTTP). ``blue_green`` is eascmd's ``create -r``; ``allow_cpu_fallback``
        runs a GPU service on CPU when the host lacks GPUs. With ``wait`` the
        call returns once the service runs or has failed (``status ==
        "Failed"`` and ``message`` say why).
        """
        from easlab.spec import local_refusal, parse_spec

        parsed = parse_spec(spec, allow_unknown_keys=allow_unknown_keys)
        refusal = local_refusal(parsed)
        if refusal is not None:
            raise refusal  # before it is sent: the kernel would refuse it so
        body = {
            "spec": _absolutize(parsed.to_dict(), parsed.base_dir),
            "blue_green": blue_green,
            "allow_cpu_fallback": allow_cpu_fallback,
            "wait": wait,
            "allow_unknown_keys": allow_unknown_keys,
        }
        # waiting covers model loading, which may take minutes (TF, torch)
        desc = self._call("POST", "/services", body, timeout=timeout or max(self.timeout, 600))
        return Service(self, desc)

    def list(self) -> list[dict[str, Any]]:
        """Every service's description (eascmd ``ls``)."""
        return list(self._call("GET", "/services").get("services", []))

    def describe(self, name: str) -> dict[str, Any]:
        """One service's description (eascmd ``desc``)."""
        return self._call("GET", f"/services/{self._name(name)}")  # type: ignore[no-any-return]

    def workers(self, name: str) -> builtins.list[dict[str, Any]]:
        """The service's instances (eascmd ``w``)."""
        return list(self._call("GET", f"/services/{self._name(name)}/workers").get("workers", []))

    def modify(
        self,
        name: str,
        set: dict[str, Any] | None = None,  # noqa: A002 - eascmd's word
        spec: dict[str, Any] | str | Path | None = None,
        *,
        allow_unknown_keys: bool = False,
    ) -> dict[str, Any]:
        """eascmd ``modify``: ``set={"metadata.instance": 3}`` (``-D``) or a partial ``spec`` (``-s``).

        A ``spec`` that changes model or processor fields makes a new version.
        """
        if (set is None) == (spec is None):
            raise ValueError("modify() takes exactly one of set= (-D overrides) or spec= (-s)")
        if set is not None:
            body: dict[str, Any] = {
                "set": _absolute_overrides(
                    {k: v if isinstance(v, str) else json.dumps(v) for k, v in set.items()}
                )
            }
        else:
            from easlab.spec import load_spec_source

            assert spec is not None
            data, base_dir = load_spec_source(spec)
            body = {"spec": _absolutize(data, base_dir)}
        body["allow_unknown_keys"] = allow_unknown_keys
        return self._call(  # type: ignore[no-any-return]
            "PATCH", f"/services/{self._name(name)}", body, timeout=max(self.timeout, 600)
        )

    def version(self, name: str, version: int, force: bool = False) -> dict[str, Any]:
        """Switch the service to another of its versions (eascmd ``version``)."""
        return self._call(  # type: ignore[no-any-return]
            "POST",
            f"/services/{self._name(name)}/version",
            {"version": _version_number(version), "force": force},
            timeout=max(self.timeout, 600),
        )

    def stop(self, name: str) -> dict[str, Any]:
        """Stop the service's instances; it keeps its name and versions."""
        return self._call("POST", f"/services/{self._name(name)}/stop")  # type: ignore[no-any-return]

    def start(self, name: str) -> dict[str, Any]:
        """Start a stopped service again."""
        return self._call(  # type: ignore[no-any-return]
            "POST", f"/services/{self._name(name)}/start", timeout=max(self.timeout, 600)
        )

    def delete(self, name: str) -> dict[str, Any]:
        """Delete the service (no confirmation here; the CLI asks)."""
        return self._call("DELETE", f"/services/{self._name(name)}")  # type: ignore[no-any-return]

    def release(self, name: str, weight: int) -> dict[str, Any]:
        """Send ``weight`` % of the original endpoint's traffic to blue-green service ``name``."""
        given: Any = weight
        if (isinstance(given, float) and given.is_integer()) or (
            isinstance(given, str) and given.strip().isdigit()
        ):
            weight = int(given)
        elif isinstance(given, bool) or not isinstance(given, int):
            # int() truncated: release(name, 30.5) sent 30 %
            raise ValueError(f"weight must be a whole percentage 0-100, got {given!r}")
        if not 0 <= weight <= 100:
            raise ValueError(f"weight must be a percentage between 0 and 100, got {weight}")
        return self._call(  # type: ignore[no-any-return]
            "POST", f"/services/{self._name(name)}/release", {"weight": weight}
        )

    def logs(self, name: str, n: int = 50) -> builtins.list[str]:
        """The last ``n`` log lines of the service's instances."""
        data = self._call("GET", f"/services/{self._name(name)}/logs", params={"n": int(n)})
        return list(data.get("lines", []))

    def metrics(self, name: str, window: int = 60) -> dict[str, Any]:
        """The kernel's monitor of one service: windows, instances, per-second series."""
        path = f"/services/{self._name(name)}/metrics"
        return self._call("GET", path, params={"window": int(window)})  # type: ignore[no-any-return]

    def metrics_all(self, window: int = 60) -> dict[str, Any]:
        """Every service's monitor summary and its QPS/p99 series of the last ``window`` s."""
        return self._call("GET", "/metrics", params={"window": int(window)})  # type: ignore[no-any-return]

    def service(self, name: str) -> Service:
        """A ``Service`` handle of an existing service."""
        return Service(self, self.describe(name))


class Service:
    """A service of a local kernel: endpoint, token, and a ready ``PredictClient``."""

    def __init__(self, kernel: KernelClient, desc: dict[str, Any]) -> None:
        self.kernel = kernel
        self.desc = desc
        #: a create found it deployed from the same description (``create(exist_ok=True)``)
        self.existed = False
        #: and its local model or processor files had changed since it loaded them: the
        #: number of the version made to load them (a model saved again after training)
        self.reloaded: int | None = None
        # predict()'s client, made at its first call (for the endpoint and token then)
        self._kept: tuple[tuple[str, str | None], PredictClient] | None = None
        self._kept_lock = threading.Lock()

    @property
    def name(self) -> str:
        return str(self.desc["name"])

    @property
    def endpoint(self) -> str:
        """The kernel's base URL (``PredictClient``'s endpoint)."""
        return str(self.desc.get("endpoint") or self.kernel.endpoint)

    @property
    def url(self) -> str:
        """The full prediction URL, ``{endpoint}/api/predict/{name}``."""
        return str(self.desc.get("url") or f"{self.endpoint}/api/predict/{self.name}")

    @property
    def token(self) -> str | None:
        return self.desc.get("token")

    @property
    def status(self) -> str:
        return str(self.desc.get("status", ""))

    def refresh(self) -> Service:
        """Re-read the description from the kernel (status, instances, version ...)."""
        self.desc = self.kernel.describe(self.name)
        return self

    def client(self, **settings: Any) -> PredictClient:
        """A ``PredictClient`` with endpoint, service name and token set, ``init()`` called.

        Keyword arguments call the matching setters first, e.g.
        ``svc.client(timeout=10000, retry_count=1)`` → ``set_timeout``, ``set_retry_count``.
        """
        from easlab.client.predict_client import PredictClient

        client = PredictClient(self.endpoint, self.name)
        if self.token:
            client.set_token(self.token)
        for key, value in settings.items():
            setter = getattr(client, f"set_{key}", None)
            if setter is None:
                raise TypeError(f"PredictClient has no setting {key!r} (no set_{key} method)")
            setter(value)
        client.init()
        return client

    def predict(self, request: Any) -> Any:
        """``self.client().predict(request)``, through one client kept for this ``Service``:
        a loop of calls reuses its connection (and its signature, for numpy inputs).

        It is made anew when the endpoint or token changed (``refresh()``), and
        closed with the ``Service``.
        """
        key = (self.endpoint, self.token)
        with self._kept_lock:
            kept = self._kept
            if kept is None or kept[0] != key:
                if kept is not None:
                    kept[1].destroy()
                client = self.client()
                weakref.finalize(self, client.destroy)
                self._kept = kept = (key, client)
        return kept[1].predict(request)

    def signature(self) -> dict[str, Any]:
        """The tensor signature served on ``GET /api/predict/{name}`` (SPEC §1).

        Read by ``PredictClient.get_signature``, the one reader of signatures.
        """
        from easlab.client.transport import TransportError
        from easlab.errors import PredictException

        with self.client(retry_count=1, timeout=self.kernel.timeout * 1000) as client:
            try:
                return client.get_signature()
            except PredictException as exc:
                if isinstance(exc.__cause__, TransportError):
                    raise KernelNotRunning(
                        f"no easlab kernel answers at {self.endpoint}: {_HOW_TO_START}"
                    ) from None
                raise KernelError(exc.code, exc.message) from None

    def __repr__(self) -> str:
        return (
            f"<Service {self.name} {self.status or '?'} url={self.url} token={masked(self.token)}>"
        )

    def _repr_html_(self) -> str:
        rows = [
            ("name", self.name),
            ("status", self.status),
            ("url", self.url),
            ("token", masked(self.token)),
            ("processor", self.desc.get("processor")),
            (
                "instances",
                f"{self.desc.get('running_instance', '?')}/{self.desc.get('total_instance', '?')}",
            ),
            (
                "version",
                f"{self.desc.get('current_version', '?')}/{self.desc.get('latest_version', '?')}",
            ),
        ]
        if self.desc.get("message"):
            rows.append(("message", self.desc["message"]))
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'><code>{html.escape(str(v))}</code></td></tr>"
            for k, v in rows
        )
        return f"<table>{body}</table>"


#: statuses a service stays in until someone acts (eascmd waits for one of them too)
SETTLED = ("Running", "Failed", "Stopped")
#: called with each description polled while a service settles
Progress = Callable[[dict[str, Any]], None]
#: ``wait_settled``'s polls of a kernel with no ``poll_interval`` of its own (the local one):
#: (first wait s, growth, longest wait s)
LOCAL_POLL_INTERVAL = (0.2, 1.0, 0.2)


def wait_settled(
    kernel: Any,
    desc: dict[str, Any],
    timeout: float = 600.0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Poll the service until it runs, has failed or is stopped; its last description.

    Instances come up (or roll over after ``modify``/``version``) after the
    control call has answered; this is eascmd's "Waiting [Total: ...]" loop. The
    kernel says how often to ask (``poll_interval``: first wait, growth, longest wait;
    PAI-EAS backs off from 1 s to 10 s, a call on the account's rate limit each); the
    local kernel is asked every 0.2 s.
    """
    name = str(desc["name"])
    # what create said (a kept unknown key, what PAI-EAS may misrun): PAI-EAS's
    # DescribeService does not say it again, so the last description keeps it
    warned = list(desc.get("warnings") or [])
    first, growth, longest = getattr(kernel, "poll_interval", LOCAL_POLL_INTERVAL)
    delay = first
    deadline = time.monotonic() + timeout
    while desc.get("status") not in SETTLED:
        if progress is not None:
            progress(desc)
        left = deadline - time.monotonic()
        if left <= 0:
            message = desc.get("message")
            said = f" ({message})" if message else ""
            raise EaslabError(
                f"service {name} is still {desc.get('status')}{said} after {timeout:g} s; "
                f"look at `easlab desc {name}` / `easlab logs {name}` (%eas desc, %eas logs)"
            )
        time.sleep(min(delay, left))  # polling a remote status, not synchronising threads
        delay = min(delay * growth, longest)
        try:
            desc = kernel.describe(name)
        except KernelError as exc:
            if exc.status != 404:
                raise
            # `easlab delete NAME` meanwhile: it said only "service 'NAME' not found"
            raise KernelError(
                404, f"service {name} was deleted while it was {desc.get('status')}"
            ) from None
    if warned and not desc.get("warnings"):
        desc = {**desc, "warnings": warned}
    return desc
