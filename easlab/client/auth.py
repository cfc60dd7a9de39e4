"""How a request to an EAS service carries its token: the one place that builds auth headers.

Like httpx's ``Auth``, :class:`EasAuth` decides when and how to sign; clients
call ``apply(request)`` on a prepared request and nothing else writes
``Authorization``. The signature itself is ``easlab._auth`` (shared with the kernel).
"""

from __future__ import annotations

from easlab import _auth
from easlab.client.transport import Request

__all__ = ["EasAuth", "clean_token"]


def clean_token(token: str | None) -> str:
    """``token`` as it is sent: surrounding whitespace (the line break of a token read
    from a file or pasted from a console) cut off, as EAS tokens never hold any.

    A control character inside it (a line break, a tab) raises ``ValueError``
    saying where, without showing the token: no header could carry it, and
    ``http.client`` would refuse it with the whole token in its message.
    """
    token = (token or "").strip()
    for at, char in enumerate(token):
        if ord(char) < 0x20 or ord(char) == 0x7F:
            raise ValueError(
                f"the token holds a control character ({char!r} at position {at} of "
                f"{len(token)}): pass the service token alone, on one line (easlab desc "
                "NAME shows it)"
            )
    return token


class EasAuth:
    """The service token, sent as the official client sends it (SPEC.md §1).

    * no token: no auth headers;
    * a POST to ``/api/predict/<service>``: ``Content-MD5``, ``Date``,
      ``Content-Type`` (``application/octet-stream`` unless set), ``Content-Length``
      and ``Authorization: EAS <HMAC-SHA1 signature>``;
    * a GET (the signature covers POST bodies only), or any call to a custom URL
      (``signed=False``): the plain token, the other form EAS accepts; a POST
      also gets ``Date`` and a default ``Content-Type``;
    * ``token_only=True``: the plain token and nothing else, whatever the method, as
      the official queue client sends it (SPEC.md §4).
    """

    def __init__(
        self,
        token: str | None,
        service_name: str,
        signed: bool = True,
        *,
        token_only: bool = False,
    ) -> None:
        self.token = clean_token(token)
        self.service_name = service_name
        self.signed = signed and not token_only
        self.token_only = token_only

    def apply(self, request: Request) -> Request:
        """Add the auth headers to ``request`` (in place) and return it."""
        if not self.token:
            return request
        headers = request.headers
        if request.method != "POST" or not self.signed:
            headers["Authorization"] = self.token
            if request.method == "POST" and not self.token_only:
                headers["Date"] = _auth.http_date()
                headers.setdefault("Content-Type", _auth.DEFAULT_CONTENT_TYPE)
            return request
        content_type = headers.get("Content-Type") or _auth.DEFAULT_CONTENT_TYPE
        headers.update(
            _auth.signed_headers(self.token, request.body, self.service_name, content_type)
        )
        return request

    def __repr__(self) -> str:
        shown = _auth.masked(self.token) if self.token else ""
        return f"EasAuth({shown!r}, {self.service_name!r}, signed={self.signed})"
