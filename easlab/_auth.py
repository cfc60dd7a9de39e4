"""The EAS request signature (SPEC.md §1), shared by the client and the kernel.

``Authorization: EAS <base64(HMAC-SHA1(token, msg))>`` where ``msg`` is
``POST\\n<md5hex(body)>\\n<content-type>\\n<date>\\n/api/predict/<service>``,
stripped of surrounding whitespace before signing, as the official client does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

DEFAULT_CONTENT_TYPE = "application/octet-stream"


def masked(token: str | None) -> str:
    """A token as logs, reprs and answers may show it: ``****`` and its last 4
    characters, which tell tokens apart without being enough to use one."""
    if not token:
        return "None"
    return "****" + token[-4:] if len(token) > 8 else "****"


def http_date(now: float | None = None) -> str:
    """An RFC 1123 date in GMT, the format EAS expects in the ``Date`` header."""
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now))


def body_md5(body: bytes) -> str:
    return hashlib.md5(body).hexdigest()


def signature(
    token: str,
    body_md5_hex: str,
    content_type: str,
    date: str,
    resource: str,
    verb: str = "POST",
) -> str:
    """The value of the ``Authorization`` header: ``"EAS " + base64 signature``.

    ``resource`` is the request path, e.g. ``/api/predict/mnist``.
    """
    msg = f"{verb}\n{body_md5_hex}\n{content_type}\n{date}\n{resource}".strip()
    digest = hmac.new(token.encode("utf-8"), msg.encode("utf-8"), hashlib.sha1).digest()
    return "EAS " + base64.b64encode(digest).decode("ascii")


def signed_headers(
    token: str, body: bytes, service_name: str, content_type: str = DEFAULT_CONTENT_TYPE
) -> dict[str, str]:
    """Headers the official client sends for a signed request (SPEC.md §1)."""
    md5 = body_md5(body)
    date = http_date()
    return {
        "Content-MD5": md5,
        "Date": date,
        "Content-Type": content_type,
        "Content-Length": str(len(body)),
        "Authorization": signature(token, md5, content_type, date, f"/api/predict/{service_name}"),
    }


def verify(
    token: str,
    authorization: str | None,
    body: bytes,
    content_type: str | None,
    date: str | None,
    resource: str,
) -> bool:
    """True when ``authorization`` is the plain token or a valid EAS signature.

    The md5 is recomputed from the body actually received (never trusted from
    ``Content-MD5``), the date is not checked for skew (the official client
    sends local time labelled GMT), and secrets are compared in constant time.
    """
    if not authorization:
        return False
    if hmac.compare_digest(authorization.encode(), token.encode()):
        return True
    if not authorization.startswith("EAS "):
        return False
    expected = signature(
        token, body_md5(body), content_type or DEFAULT_CONTENT_TYPE, date or "", resource
    )
    return hmac.compare_digest(authorization.strip().encode(), expected.encode())
