"""Where a notebook call goes (URL, service name, token) and the client that takes it there.

Shared by ``%%eas predict``, ``easlab.bench`` and the debug widget. A ``Target``
holds a ``PredictClient`` making one attempt per call (the notebook shows every
exchange, failed ones too), so all three read the signature with
``PredictClient.get_signature``, encode with ``easlab.wire.build.to_request`` and
send through the client's transport: the same value gives the same bytes as
``PredictClient.predict``. A service of the local kernel whose GET would run its model
(``get_answered_by: "model"`` in its description) is not asked: it has no signature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from easlab.errors import PredictException

if TYPE_CHECKING:  # pragma: no cover
    from easlab.client.predict_client import PredictClient

PREDICT_PREFIX = "/api/predict/"


@dataclass
class Target:
    """A prediction URL, the service name in it, its token, and a client for it."""

    url: str
    service_name: str
    token: str | None = None  # a secret: masked in the repr (__repr__)
    timeout: float = 30.0
    # Why the signature could not be read (a 401/403: the token; no answer); None when
    # it was read, or the service has none.
    signature_error: PredictException | None = field(default=None, repr=False)
    # True when the local kernel says a GET on the service runs its model (a python or
    # cpp processor, SPEC.md §1): the service then has no signature, and no GET is sent.
    get_runs_model: bool = False
    _client: PredictClient | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        # a repr is shown in a cell's output and saved with the notebook: the token masked
        from easlab._auth import masked

        token = masked(self.token) if self.token else None
        return (
            f"Target(url={self.url!r}, service_name={self.service_name!r}, token={token!r}, "
            f"timeout={self.timeout!r}, get_runs_model={self.get_runs_model!r})"
        )

    @property
    def endpoint(self) -> str:
        """The base URL, without ``/api/predict/<name>``."""
        return self.url.split(PREDICT_PREFIX, 1)[0]

    @property
    def client(self) -> PredictClient:
        """The ``PredictClient`` of this target: one attempt per call, ``timeout`` seconds."""
        if self._client is None:
            from easlab.client.predict_client import PredictClient

            client = PredictClient(self.endpoint, self.service_name)
            if self.token:
                client.set_token(check_token(self.token))
            client.set_timeout(self.timeout * 1000.0)
            client.set_retry_count(1)
            client.init()
            self._client = client
        return self._client

    def signature(self) -> dict[str, Any] | None:
        """The service's signature JSON (SPEC.md §1), or None: a service without one,
        or one whose signature could not be read (``signature_error`` says why)."""
        if self.signature_error is not None or self.get_runs_model:
            return None
        try:
            return self.client.get_signature(required=False)
        except PredictException as exc:
            self.signature_error = exc
            return None

    def signature_source(self, required: bool) -> dict[str, Any] | None:
        """``to_request``'s signature source: what ``signature()`` gives, except that a
        signature that could not be read, or a missing one that is ``required``, raises."""
        if self.signature_error is not None:
            raise self.signature_error
        if self.get_runs_model:
            return None  # to_request then says the service has no signature
        return self.client.get_signature(required=required)

    @property
    def format(self) -> str | None:
        """``tf``/``torch``/``blade``/``onnx`` (or ``json`` for PMML), None without a signature."""
        sig = self.signature()
        if sig is None:
            return None
        return str(sig.get("format") or "tf")

    @property
    def is_tensor(self) -> bool:
        """True for a tensor service (a signature of format tf, torch, blade or onnx)."""
        from easlab.wire.build import is_tensor_signature

        return is_tensor_signature(self.signature())

    def close(self) -> None:
        """Close the client's connections (a later call opens new ones)."""
        if self._client is not None:
            self._client.destroy()
            self._client = None


def check_token(token: str) -> str:
    """``token`` when an Authorization header can carry it (printable ASCII); else
    ValueError naming the first character that cannot be sent, never the token."""
    for i, ch in enumerate(token):
        if not "!" <= ch <= "~" and not (ch == " " and 0 < i < len(token) - 1):
            raise ValueError(
                f"the token has {ch!r} (U+{ord(ch):04X}) at character {i + 1} of {len(token)}, "
                "which an Authorization header cannot carry: a token is plain ASCII; copy it "
                "again from the service's page (some copies bring curly quotes, spaces or "
                "line breaks)"
            )
    return token


def resolve(service_or_url: Any, token: str | None = None, timeout: float = 30.0) -> Target:
    """A ``Target`` from a ``Service``, a predict URL, or a service name on the local kernel.

    >>> resolve("http://127.0.0.1:8080/api/predict/echo", token="abc").service_name
    'echo'
    """
    if isinstance(service_or_url, Target):
        return service_or_url
    if isinstance(service_or_url, str):
        if "://" in service_or_url:
            # the token out first: the messages below show the URL
            url, token = _token_of(service_or_url.rstrip("/"), token)
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(
                    f"not an http(s) URL: {url!r}; expected e.g. "
                    f"http://127.0.0.1:8080{PREDICT_PREFIX}NAME"
                )
            if PREDICT_PREFIX not in url:
                raise ValueError(
                    f"{url!r} is not a prediction URL; expected "
                    f"<endpoint>{PREDICT_PREFIX}<service name>"
                )
            return Target(url, url.split(PREDICT_PREFIX, 1)[1], token, timeout)
        # a bare name: look it up on the running local kernel
        from easlab.client.connect import connect

        return from_desc(connect().describe(service_or_url), token, timeout)
    svc_url = getattr(service_or_url, "url", None)
    svc_name = getattr(service_or_url, "name", None)
    if svc_url and svc_name:
        svc_token = token or getattr(service_or_url, "token", None)
        return Target(
            str(svc_url),
            str(svc_name),
            svc_token,
            timeout,
            get_runs_model=get_runs_model(_latest_desc(service_or_url)),
        )
    raise TypeError(
        "expected a Service, a service name, or a URL like "
        f"http://host:port{PREDICT_PREFIX}NAME; got {type(service_or_url).__name__}"
    )


def _token_of(url: str, token: str | None) -> tuple[str, str | None]:
    """A URL pasted with its token (``...?token=T``): the URL without it, and the token,
    sent as the Authorization header. Otherwise the query would be taken for part of the
    service's name, the service would answer "missing token", and the token would be
    shown wherever the name is.

    >>> _token_of("http://h:80/api/predict/echo?token=abc", None)
    ('http://h:80/api/predict/echo', 'abc')
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    given = [value for key, value in query if key == "token"]
    if not given:
        return url, token
    rest = urlencode([(key, value) for key, value in query if key != "token"])
    return urlunsplit(parts._replace(query=rest)).rstrip("/"), token or given[-1]


def _field(desc: Any, name: str) -> Any:
    """A ServiceDesc field, whether the control client returns a dict or an object."""
    if isinstance(desc, dict):
        return desc.get(name)
    return getattr(desc, name, None)


def from_desc(desc: Any, token: str | None = None, timeout: float = 30.0) -> Target:
    """The ``Target`` of a service as a kernel describes it (its URL, its token unless
    ``token`` is given, and whether a GET would run its model)."""
    return Target(
        str(_field(desc, "url")),
        str(_field(desc, "name")),
        token or _field(desc, "token"),
        timeout,
        get_runs_model=get_runs_model(desc),
    )


def get_runs_model(desc: Any) -> bool:
    """Whether a kernel's description says a GET on the service runs its model
    (``get_answered_by``); False when it does not say (PAI-EAS, an older kernel)."""
    return _field(desc, "get_answered_by") == "model"


def _latest_desc(service: Any) -> Any:
    """A ``Service``'s description as its local kernel gives it now (a ``modify`` since
    may have changed its processor), else the one it holds; None for other objects."""
    from easlab.client.control import KernelClient
    from easlab.errors import EaslabError

    kernel = getattr(service, "kernel", None)
    if isinstance(kernel, KernelClient):  # not PAI-EAS's client: a call on its rate limit
        try:
            return kernel.describe(str(service.name))
        except EaslabError:
            pass  # the kernel is down or lost the service: sending says so
    return getattr(service, "desc", None)
