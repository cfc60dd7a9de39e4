"""Answers a gateway compressed (``Content-Encoding: gzip``/``deflate``) read as the official client reads them.

The official client (eas-prediction 0.36) reads every answer through urllib3,
which undoes gzip and deflate although the request says ``Accept-Encoding:
identity``. The same snippet runs against one real loopback server with the
official client (in its venv) and with ``easlab.eas_prediction``; then the
decoder itself, and a decompression bomb, which easlab refuses within a cap.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import re
import textwrap
import tracemalloc
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from stub_http import Reply, Seen, StubServer

from easlab.client.content_encoding import (
    DEFAULT_MAX_DECODED_BYTES,
    ContentDecodingError,
    decode_content,
)
from easlab.client.transport import HTTPTransport
from easlab.eas_prediction import PredictClient, PredictException, StringRequest
from easlab.wire.proto import queue_pb2, tf_predict_pb2


def raw_deflate(data: bytes) -> bytes:
    obj = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return obj.compress(data) + obj.flush()


# name (sent by the client in X-Enc) -> (Content-Encoding of the answer, how its body is encoded)
ENCODINGS = {
    "gzip": ("gzip", gzip.compress),
    "x-gzip": ("x-gzip", gzip.compress),
    "upper-case": ("GZIP", gzip.compress),
    "deflate": ("deflate", zlib.compress),  # zlib-wrapped, as RFC 9110 says
    "raw-deflate": ("deflate", raw_deflate),  # what some servers send instead
    "gzip-then-deflate": ("gzip, deflate", lambda b: zlib.compress(gzip.compress(b))),
    "two-members": ("gzip", lambda b: gzip.compress(b[:3]) + gzip.compress(b[3:])),
    "zero-padded": ("gzip", lambda b: gzip.compress(b) + bytes(8)),
    "identity": ("identity", lambda b: b),
    "unknown-coding": ("br", lambda b: b),  # urllib3 has no brotli here: passed as it came
    "none": ("", lambda b: b),
}


def tf_answer() -> bytes:
    answer = tf_predict_pb2.PredictResponse()
    y = answer.outputs["y"]
    y.dtype = tf_predict_pb2.DT_FLOAT
    y.array_shape.dim.extend([1, 3])
    y.float_val.extend([0.5, 1.5, 2.5])
    return answer.SerializeToString()


def queue_records() -> bytes:
    frames = queue_pb2.DataFrameListProto()
    frame = frames.index.add()
    frame.index, frame.data, frame.message = 7, b"record-7", "ok"
    frame.tags.update({"requestId": "r-7"})
    return frames.SerializeToString()


def gateway(seen: Seen) -> Reply:
    """A service behind a gateway that compresses as the request's X-Enc names."""
    header, encode = ENCODINGS[seen.headers.get("X-Enc", "gzip")]
    headers = {"Content-Encoding": header} if header else {}
    if seen.path == "/api/predict/missing":
        return Reply(404, encode(b"service missing not found"), headers)
    if seen.path in ("/api/predict/broken", "/api/predict/broken-queue"):
        return Reply(200, b"these bytes are no gzip stream", {"Content-Encoding": "gzip"})
    if seen.path == "/api/predict/tf":
        return Reply(200, encode(tf_answer()), headers)
    if seen.path == "/api/predict/q":
        if seen.method == "POST":
            headers["X-Eas-Queueservice-Request-Id"] = "r-7"
            return Reply(200, encode(b"7"), headers)
        if "_attrs_=true" in seen.query:
            return Reply(200, encode(b'{"stream.length": "1"}'), headers)
        return Reply(200, encode(queue_records()), headers)
    return Reply(200, encode(b"echo:" + seen.body), headers)


SNIPPET = """
import json
import re
from eas_prediction import PredictClient, StringRequest, TFRequest, PredictException, QueueClient

out = {}


def record(key, call):
    # an exception becomes a result too, so that each case compares on its own
    try:
        out[key] = call()
    except PredictException as e:
        message = e.message.decode() if isinstance(e.message, bytes) else e.message
        out[key] = ['PredictException', e.code, message]
    except Exception as e:
        out[key] = ['raised', type(e).__name__]


def tf_call(client):
    req = TFRequest('serving_default')
    req.add_feed('x', [1, 2], TFRequest.DT_FLOAT, [1.0, 2.0])
    resp = client.predict(req)
    return [list(resp.get_tensor_shape('y')), list(resp.get_values('y'))]


for enc in ENCODINGS:
    client = PredictClient('URL', 'echo')
    client.set_retry_count(1)
    client.add_extra_headers({'X-Enc': enc})
    client.init()
    record('string ' + enc, lambda: repr(client.predict(StringRequest('[{"x": 1}]')).response_data))
    record('pool ' + enc, lambda: repr(client.connection_pool.request(
        'POST', 'URL/api/predict/echo', body=b'raw', headers={'X-Enc': enc}, retries=0).data))
    tf = PredictClient('URL', 'tf')
    tf.add_extra_headers({'X-Enc': enc})
    tf.init()
    record('tf ' + enc, lambda: tf_call(tf))

missing = PredictClient('URL', 'missing')
missing.add_extra_headers({'X-Enc': 'gzip'})
missing.init()
record('error', lambda: repr(missing.predict(StringRequest('[]')).response_data))

broken = PredictClient('URL', 'broken')
broken.set_retry_count(2)
broken.init()
record('broken', lambda: repr(broken.predict(StringRequest('[]')).response_data))

for enc in ('gzip', 'deflate'):
    queue = QueueClient('URL', 'q')
    queue.add_extra_headers({'X-Enc': enc})
    queue.init()
    record('queue put ' + enc, lambda: list(queue.put(b'data')))
    record('queue attributes ' + enc, queue.attributes)
    record('queue get ' + enc, lambda: [
        [df.index, df.data.decode(), dict(df.tags)] for df in queue.get(index=7, auto_delete=False)
    ])
broken_queue = QueueClient('URL', 'broken-queue')
broken_queue.init()
record('broken queue', lambda: list(broken_queue.put(b'data')))
print(json.dumps(out))
"""


def snippet_for(url: str) -> str:
    return SNIPPET.replace("URL", url).replace("ENCODINGS", repr(list(ENCODINGS)))


def run_on_easlab(snippet: str) -> str:
    """Run an eas_prediction snippet here with only its imports changed to easlab's mirror."""
    code = snippet.replace("from eas_prediction import", "from easlab.eas_prediction import")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(textwrap.dedent(code), "<snippet>", "exec"), {"__name__": "__main__"})
    return out.getvalue()


@dataclass
class SideBySide:
    """Both clients' results (key -> result) and the requests each sent."""

    url: str
    official: dict[str, Any]
    ours: dict[str, Any]
    official_seen: list[Seen]
    our_seen: list[Seen]


@pytest.fixture(scope="module")
def side_by_side(run_official) -> Iterator[SideBySide]:
    """The snippet run by both clients against one compressing gateway."""
    server = StubServer(gateway)
    try:
        snippet = snippet_for(server.url)
        official = json.loads(run_official(snippet))
        official_seen = list(server.seen)
        server.seen.clear()
        ours = json.loads(run_on_easlab(snippet))
        yield SideBySide(server.url, official, ours, official_seen, list(server.seen))
    finally:
        server.close()


def test_the_official_client_decodes_gzip_and_deflate_answers(side_by_side):
    """What the audit found: urllib3 undoes the gateway's compression (which easlab missed)."""
    official = side_by_side.official
    assert official["string gzip"] == repr(b'echo:[{"x": 1}]')
    assert official["tf deflate"] == [[1, 3], [0.5, 1.5, 2.5]]
    assert official["queue put gzip"] == ["7", "r-7"]


@pytest.mark.parametrize("case", sorted(ENCODINGS))
def test_a_compressed_answer_reads_as_the_official_client_reads_it(side_by_side, case):
    for call in ("string", "pool", "tf"):
        key = f"{call} {case}"
        assert side_by_side.ours[key] == side_by_side.official[key], key


def test_an_error_answer_is_decoded_before_it_becomes_the_message(side_by_side):
    expected = ["PredictException", 404, "service missing not found"]
    assert side_by_side.ours["error"] == side_by_side.official["error"] == expected


def test_an_answer_that_is_not_what_its_encoding_says_fails_after_the_same_retries(side_by_side):
    for result in (side_by_side.official["broken"], side_by_side.ours["broken"]):
        assert result[:2] == ["PredictException", 500], result
        assert result[2].startswith(f"url: {side_by_side.url}/api/predict/broken, error: ")
    for seen in (side_by_side.official_seen, side_by_side.our_seen):
        assert len([s for s in seen if s.path == "/api/predict/broken"]) == 2


def test_the_queue_client_does_not_retry_an_answer_that_does_not_decode(side_by_side):
    url = f"{side_by_side.url}/api/predict/broken-queue"
    # easlab's put carries a requestId of its own (its retries are the same put)
    for result, query in (
        (side_by_side.official["broken queue"], ""),
        (side_by_side.ours["broken queue"], r"\?requestId=[0-9a-f-]{36}"),
    ):
        assert result[:2] == ["PredictException", 502], result
        assert re.match(f"url: {re.escape(url)}{query}, error: ", result[2]), result
    for seen in (side_by_side.official_seen, side_by_side.our_seen):
        assert len([s for s in seen if s.path == "/api/predict/broken-queue"]) == 1


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_the_queue_client_decodes_its_answers_too(side_by_side, encoding):
    for call in ("put", "attributes", "get"):
        key = f"queue {call} {encoding}"
        assert side_by_side.ours[key] == side_by_side.official[key], key
    assert side_by_side.ours[f"queue attributes {encoding}"] == {"stream.length": "1"}


def test_no_compression_is_asked_for_as_the_official_client_asks(side_by_side):
    """Both send ``Accept-Encoding: identity`` (http.client's default; urllib3, unlike
    requests, adds no ``gzip, deflate``): the request bytes stay the official ones."""
    for seen in (side_by_side.official_seen, side_by_side.our_seen):
        assert all(s.headers.get_all("Accept-Encoding") == ["identity"] for s in seen)


# -- a decompression bomb --------------------------------------------------------------


def gzip_of_zeros(size: int) -> bytes:
    """gzip of ``size`` zero bytes, built without holding them (about 1 KiB per MiB)."""
    obj = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    parts = [obj.compress(chunk) for _ in range(size >> 20)]
    parts.append(obj.compress(bytes(size & ((1 << 20) - 1))))
    return b"".join(parts) + obj.flush()


def test_a_gzip_bomb_is_refused_without_taking_the_memory(stub_server):
    bomb = gzip_of_zeros(64 << 20)  # 64 MiB of zeros in about 64 KiB
    server = stub_server(lambda seen: Reply(200, bomb, {"Content-Encoding": "gzip"}))
    cap = 1 << 20
    client = PredictClient(server.url, "svc", transport=HTTPTransport(max_decoded_bytes=cap))
    client.init()
    tracemalloc.start()
    try:
        with pytest.raises(PredictException) as caught:
            client.predict(StringRequest("x"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        client.destroy()
    assert peak < 8 * cap, f"decoding held {peak} bytes for a cap of {cap}"
    error = caught.value
    assert error.code == 500
    assert f"decodes to more than {cap} bytes" in error.message
    assert "HTTPTransport(max_decoded_bytes=" in error.message  # how to raise it
    assert len(server.seen) == 1  # the same answer would come again: not retried


def test_the_default_cap_holds_through_a_default_client(stub_server):
    bomb = gzip_of_zeros(DEFAULT_MAX_DECODED_BYTES + 1)
    server = stub_server(lambda seen: Reply(200, bomb, {"Content-Encoding": "gzip"}))
    client = PredictClient(server.url, "svc")
    client.init()
    assert isinstance(client.transport, HTTPTransport)
    assert client.transport.max_decoded_bytes == DEFAULT_MAX_DECODED_BYTES == 256 << 20
    with pytest.raises(PredictException, match="decodes to more than 268435456 bytes"):
        client.predict(StringRequest("x"))
    client.destroy()


def test_an_answer_of_exactly_the_cap_decodes(stub_server):
    data = bytes(range(256)) * 16  # 4 KiB
    server = stub_server(lambda seen: Reply(200, gzip.compress(data), {"Content-Encoding": "gzip"}))
    transport = HTTPTransport(max_decoded_bytes=len(data))
    client = PredictClient(server.url, "svc", transport=transport)
    assert client.predict(StringRequest("x")).response_data == data
    transport.max_decoded_bytes = len(data) - 1
    with pytest.raises(PredictException, match=f"more than {len(data) - 1} bytes"):
        client.predict(StringRequest("x"))
    client.destroy()


# -- the decoder, on bytes alone ---------------------------------------------------------

PAYLOAD = b"hello, compressed world " * 40


@pytest.mark.parametrize("case", sorted(ENCODINGS))
def test_decode_content_undoes_each_coding(case):
    header, encode = ENCODINGS[case]
    assert decode_content(encode(PAYLOAD), header, 1 << 20) == PAYLOAD


def test_an_empty_body_stays_empty_whatever_its_coding():
    for header in ("gzip", "deflate", "gzip, deflate"):
        assert decode_content(b"", header, 10) == b""  # as urllib3 gives it


def test_codings_are_undone_last_first_and_identity_is_skipped():
    body = gzip.compress(zlib.compress(PAYLOAD))  # deflate, then gzip
    assert decode_content(body, "deflate, identity, gzip", 1 << 20) == PAYLOAD
    with pytest.raises(ContentDecodingError):
        decode_content(body, "gzip, deflate", 1 << 20)


def test_a_coding_easlab_cannot_undo_in_a_list_is_named():
    with pytest.raises(ContentDecodingError, match="not 'br'"):
        decode_content(gzip.compress(PAYLOAD), "br, gzip", 1 << 20)


def test_trailing_garbage_after_a_whole_gzip_member_is_ignored():
    # as urllib3 and gzip(1) do
    assert decode_content(gzip.compress(PAYLOAD) + b"\x00\x00junk", "gzip", 1 << 20) == PAYLOAD
    assert decode_content(zlib.compress(PAYLOAD) + b"junk", "deflate", 1 << 20) == PAYLOAD


def test_a_cut_stream_is_an_error_not_a_shorter_answer():
    for header, body in (("gzip", gzip.compress(PAYLOAD)), ("deflate", zlib.compress(PAYLOAD))):
        with pytest.raises(ContentDecodingError, match="cut") as caught:
            decode_content(body[: len(body) // 2], header, 1 << 20)
        assert not caught.value.too_large
    cut_second = gzip.compress(PAYLOAD) + gzip.compress(PAYLOAD)[:-10]
    with pytest.raises(ContentDecodingError, match="cut"):
        decode_content(cut_second, "gzip", 1 << 20)


def test_bytes_that_are_not_the_coding_are_an_error_naming_it():
    with pytest.raises(ContentDecodingError, match="not valid gzip data"):
        decode_content(b"plain text", "gzip", 1 << 20)
    with pytest.raises(ContentDecodingError, match="not valid deflate data"):
        decode_content(b"plain text", "deflate", 1 << 20)


@pytest.mark.parametrize("header", ["gzip", "deflate", "gzip, deflate"])
def test_the_cap_bounds_every_stage(header):
    body = PAYLOAD
    encoded = {
        "gzip": gzip.compress(body),
        "deflate": zlib.compress(body),
        "gzip, deflate": zlib.compress(gzip.compress(body)),
    }[header]
    assert decode_content(encoded, header, len(body)) == body
    with pytest.raises(ContentDecodingError, match="decodes to more than") as caught:
        decode_content(encoded, header, len(body) - 1)
    assert caught.value.too_large
