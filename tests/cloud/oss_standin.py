"""A loopback STAND-IN for OSS (path-style), enough for easlab's uploads; not the real service.

It records each PUT object (bucket, key, bytes, headers), takes an object in parts (a
multipart upload: initiate, the parts, complete; abort) and answers HEAD
(``GetObjectMeta``, how ``is_object_exist`` asks) with 200 or 404; ``requests`` has every
request of any method (one it does not serve is answered 501), so a test can say that
OSS was not called at all. A request
without an ``Authorization`` header signed by the SDK (``OSS4-HMAC-SHA256``
with the test's AccessKey id) is refused 403, as OSS would.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from eas_standin import ACCESS_KEY_ID


@dataclass
class OssStandIn:
    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    puts: list[dict[str, Any]] = field(default_factory=list)
    heads: list[tuple[str, str]] = field(default_factory=list)
    #: (method, bucket, key) of every request, served or not
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    #: set: every PUT is cut after this many bytes of its body (the connection closed, as a
    #: network that drops halfway through an upload); nothing is stored
    cut_puts_after: int | None = None
    #: multipart uploads under way: upload id → (bucket, key, {part number: bytes})
    multipart: dict[str, tuple[str, str, dict[int, bytes]]] = field(default_factory=dict)
    #: (bucket, key, number of parts) of each multipart upload completed
    completed: list[tuple[str, str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def serve(standin: OssStandIn) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _target(self) -> tuple[str, str]:
            path = unquote(urlsplit(self.path).path).lstrip("/")
            bucket, _, key = path.partition("/")
            with standin.lock:
                standin.requests.append((self.command, bucket, key))
            return bucket, key

        def _reply(
            self,
            status: int,
            body: bytes = b"",
            head: bool = False,
            extra: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-oss-request-id", "5F0000000000000000000000")
            if body:
                self.send_header("Content-Type", "application/xml")
            self.end_headers()
            if body and not head:
                self.wfile.write(body)

        def _signed(self) -> bool:
            auth = self.headers.get("Authorization", "")
            return auth.startswith("OSS4-HMAC-SHA256 ") and f"Credential={ACCESS_KEY_ID}/" in auth

        def _error(self, status: int, code: str, message: str, head: bool = False) -> None:
            body = (
                f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                f"<Message>{message}</Message><RequestId>5F00</RequestId></Error>"
            ).encode()
            self._reply(status, body, head)

        def do_HEAD(self) -> None:  # noqa: N802
            bucket, key = self._target()
            with standin.lock:
                standin.heads.append((bucket, key))
            if not self._signed():
                return self._error(403, "AccessDenied", "no signature", head=True)
            found = (bucket, key) in standin.objects
            self._reply(200 if found else 404, head=True)

        do_GET = do_HEAD  # GetObjectMeta may come as HEAD or GET ?objectMeta

        def do_PUT(self) -> None:  # noqa: N802
            bucket, key = self._target()
            length = int(self.headers.get("Content-Length") or 0)
            if standin.cut_puts_after is not None:
                self.rfile.read(min(length, standin.cut_puts_after))
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return None
            data = self.rfile.read(length) if length else b""
            if not self._signed():
                return self._error(403, "AccessDenied", "no signature")
            query = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
            if "uploadId" in query:  # UploadPart
                with standin.lock:
                    parts = standin.multipart[query["uploadId"]][2]
                    parts[int(query["partNumber"])] = data
                etag = '"' + hashlib.md5(data).hexdigest().upper() + '"'
                return self._reply(200, extra={"ETag": etag})
            with standin.lock:
                standin.objects[(bucket, key)] = data
                standin.puts.append(
                    {
                        "bucket": bucket,
                        "key": key,
                        "size": len(data),
                        "authorization": self.headers.get("Authorization", ""),
                    }
                )
            self._reply(200)

        def do_POST(self) -> None:  # noqa: N802 - InitiateMultipartUpload, CompleteMultipartUpload
            bucket, key = self._target()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if not self._signed():
                return self._error(403, "AccessDenied", "no signature")
            query = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
            head = f"<Bucket>{bucket}</Bucket><Key>{key}</Key>"
            if "uploads" in query:
                upload_id = uuid.uuid4().hex.upper()
                with standin.lock:
                    standin.multipart[upload_id] = (bucket, key, {})
                xml = f"<InitiateMultipartUploadResult>{head}<UploadId>{upload_id}</UploadId>"
                return self._reply(200, (xml + "</InitiateMultipartUploadResult>").encode())
            if "uploadId" in query:
                wanted = [int(n) for n in re.findall(rb"<PartNumber>(\d+)</PartNumber>", body)]
                with standin.lock:
                    _, _, parts = standin.multipart.pop(query["uploadId"])
                    if sorted(wanted) != sorted(parts):
                        return self._error(400, "InvalidPart", f"parts {wanted} of {sorted(parts)}")
                    standin.objects[(bucket, key)] = b"".join(parts[n] for n in sorted(wanted))
                    standin.completed.append((bucket, key, len(wanted)))
                xml = f'<CompleteMultipartUploadResult>{head}<ETag>"X-{len(wanted)}"</ETag>'
                return self._reply(200, (xml + "</CompleteMultipartUploadResult>").encode())
            self._error(501, "NotImplemented", f"the stand-in serves no POST {self.path}")

        def do_DELETE(self) -> None:  # noqa: N802 - AbortMultipartUpload
            self._target()
            query = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
            if "uploadId" in query:
                with standin.lock:
                    standin.multipart.pop(query["uploadId"], None)
                return self._reply(204)
            self._error(501, "NotImplemented", f"the stand-in serves no DELETE {self.path}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # a short poll: shutdown() at each test's end waits for it
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    return server, f"127.0.0.1:{server.server_address[1]}"
