"""The request line's target: what easlab sends is what the official client's urllib3 sends.

A URL with a space, non-ASCII or a quote in it (a queue tag, a service path) must
reach the server percent-encoded, exactly as ``eas_prediction`` (urllib3) writes it;
``http.client`` alone would refuse such a target. A repr of the headers, which
lands in logs and tracebacks, shows a plain token masked.
"""

from __future__ import annotations

import pytest

from easlab.client.transport import Headers, HTTPTransport, Request

URLS = [
    "http://h/api/predict/echo",
    "http://h/api/predict/echo?_raw_=true&_index_=0",
    "http://h/api/predict/q?tag=a b&who=é",
    'http://h/api/predict/sé rv/x y?t="<>{}|^`\\',
    "http://h/api/predict/q?x=%41%2f",  # valid %XX are kept (upper-cased)
    "http://h/api/predict/q?x=%41%zz",  # one bad %: every % is encoded, as urllib3 does
    "http://h/api/predict/q?x=\x01\x7f",
    "http://h/api/predict/q#frag",
    "http://h",
]

#: urllib3 2.x's ``parse_url(url).request_uri`` for each URL, the official client's target
EXPECTED = [
    "/api/predict/echo",
    "/api/predict/echo?_raw_=true&_index_=0",
    "/api/predict/q?tag=a%20b&who=%C3%A9",
    "/api/predict/s%C3%A9%20rv/x%20y?t=%22%3C%3E%7B%7D%7C%5E%60%5C",
    "/api/predict/q?x=%41%2F",
    "/api/predict/q?x=%2541%25zz",
    "/api/predict/q?x=%01%7F",
    "/api/predict/q",
    "/",
]


@pytest.mark.parametrize(("url", "expected"), list(zip(URLS, EXPECTED, strict=True)))
def test_target_is_what_urllib3_sends(url, expected):
    assert Request("POST", url).target == expected


def test_a_target_with_a_space_reaches_the_server_encoded():
    import http.server
    import threading

    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/api/predict/q?tag=a b&who=é"
        resp = HTTPTransport().send(Request("GET", url), timeout=10.0)
    finally:
        server.shutdown()
        server.server_close()
    assert resp.status == 200
    assert seen == ["/api/predict/q?tag=a%20b&who=%C3%A9"]


def test_headers_repr_masks_a_plain_token_only():
    headers = Headers({"Authorization": "secret-token-1234", "X": "y"})
    assert "secret-token" not in repr(headers) and "****1234" in repr(headers)
    assert "secret-token" not in repr(Request("POST", "http://h/", headers))
    signed = Headers({"Authorization": "EAS c2lnbmF0dXJl"})
    assert "EAS c2lnbmF0dXJl" in repr(signed)  # a signature is no secret: shown as sent
