"""``QueueClient`` and ``Watcher``: easlab's drop-in for ``eas_prediction``'s queue client (SPEC §2, §4).

Same calls and answers as the official client; ``put`` also takes any easlab
request object (``TFRequest``, ``TorchRequest`` ...), str or bytes.

>>> q = QueueClient("http://127.0.0.1:8080", "my_queue")
>>> q.set_token("...")
>>> q.init()
>>> index, request_id = q.put(b"hello")
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from easlab.errors import PredictException
from easlab.wire.proto import queue_pb2

UID_HEADER = "X-EAS-QueueService-Redis-Uid"
GID_HEADER = "X-EAS-QueueService-Redis-Gid"
REQUEST_ID_HEADER = "X-Eas-Queueservice-Request-Id"


def _body(data: Any) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode()
    to_string = getattr(data, "to_string", None)
    if to_string is not None:
        return bytes(to_string())
    raise TypeError(
        f"put() takes bytes, str or an easlab request object, not {type(data).__name__}"
    )


class QueueClient:
    """A client of one queue (``NAME`` or an async service's ``NAME/sink``)."""

    def __init__(self, endpoint: str = "", queue_name: str = "") -> None:
        self.endpoint = endpoint if "://" in endpoint else f"http://{endpoint}"
        self.queue_name = queue_name
        self.token = ""
        self.timeout_ms = 5000
        self.retry_count = 5
        self.uid = ""
        self.gid = "eas"
        self._session: Any = None
        self.watch_lock = threading.Lock()
        self.watcher: Watcher | None = None

    def set_token(self, token: str) -> None:
        self.token = token

    def set_timeout(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms

    def set_logger(self, logger: Any = None) -> None:
        self.logger = logger

    def init(
        self, uid: str | None = None, gid: str = "eas", custom_url: str = "", path_suffix: str = ""
    ) -> None:
        import requests

        self.uid = uid or str(uuid.uuid4())
        self.gid = gid
        self.url = custom_url or f"{self.endpoint.rstrip('/')}/api/predict/{self.queue_name}"
        if path_suffix:
            self.url += "/" + path_suffix
        self._session = requests.Session()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": self.token, UID_HEADER: self.uid, GID_HEADER: self.gid}

    def _request(self, method: str, query: dict[str, Any], body: bytes | None = None) -> Any:
        if self._session is None:
            self.init()
        resp = None
        for _ in range(self.retry_count + 1):
            resp = self._session.request(
                method,
                self.url,
                params=query,
                data=body,
                headers=self._headers(),
                timeout=self.timeout_ms / 1000 + 1,
            )
            if resp.status_code // 100 == 2 or resp.status_code in (400, 401, 403, 404, 413):
                break  # a refusal that a retry cannot change
        assert resp is not None
        if resp.status_code // 100 != 2:
            raise PredictException(resp.status_code, resp.text)
        return resp

    def put(self, data: Any, tags: dict[str, str] | None = None) -> tuple[str, str]:
        """Put one record; returns ``(index, request_id)`` (the index as a string)."""
        resp = self._request("POST", dict(tags or {}), _body(data))
        return resp.text, resp.headers[REQUEST_ID_HEADER]

    def get(
        self,
        request_id: str | None = None,
        index: int = 0,
        length: int = 1,
        timeout: str = "5s",
        auto_delete: bool = True,
        tags: dict[str, str] | None = None,
    ) -> list[Any]:
        """Records from ``index`` on (or the one with ``request_id``), waiting up to ``timeout``."""
        query: dict[str, Any] = {
            "_index_": str(index),
            "_length_": str(length),
            "_timeout_": str(timeout),
            "_raw_": "false",
            "_auto_delete_": str(auto_delete).lower(),
        }
        if request_id is not None:
            query["requestId"] = request_id
        query.update(tags or {})
        frames = queue_pb2.DataFrameListProto()  # type: ignore[attr-defined]
        frames.ParseFromString(self._request("GET", query).content)
        return list(frames.index)

    def attributes(self) -> dict[str, str]:
        return dict(json.loads(self._request("GET", {"_attrs_": "true"}).text or "{}"))

    def search(self, index: int | str) -> dict[str, Any]:
        try:
            if int(index) <= 0:
                return {}
            return dict(
                json.loads(self._request("GET", {"_search_": "true", "_index_": str(index)}).text)
            )
        except PredictException as exc:
            if exc.code == 404:
                return {}
            raise

    def truncate(self, index: int) -> str:
        return str(self._request("DELETE", {"_index_": index, "_trunc_": "true"}).text)

    def delete(self, indexes: Any) -> str:
        items = indexes if isinstance(indexes, list) else [indexes]
        return str(self._request("DELETE", {"_indexes_": ",".join(map(str, items))}).text)

    def commit(self, indexes: Any) -> str:
        items = indexes if isinstance(indexes, list) else [indexes]
        return str(self._request("PUT", {"_indexes_": ",".join(map(str, items))}).text)

    def watch(
        self,
        index: int,
        window: int,
        index_only: bool = False,
        auto_commit: bool = False,
        tags: dict[str, str] | None = None,
    ) -> Watcher:
        """A ``Watcher`` pushing records from ``index`` on, at most ``window`` uncommitted."""
        query = {
            "_watch_": "true",
            "_index_": index,
            "_window_": window,
            "_index_only_": str(index_only).lower(),
            "_auto_commit_": str(auto_commit).lower(),
        }
        query.update(tags or {})
        url = self.url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        return Watcher(self, f"{url}?{urlencode(query)}")


class Watcher:
    """Records pushed over a websocket; one per client (``close()`` before the next)."""

    def __init__(self, queue: QueueClient, url: str) -> None:
        self.queue = queue
        self.url = url
        self.socket: Any = None
        self.closed = False

    def run(self) -> Iterator[Any]:
        """Yield each pushed record (a DataFrameProto: ``index``, ``tags``, ``data``)."""
        import websocket

        with self.queue.watch_lock:
            if self.queue.watcher is not None:
                raise PredictException(400, "Another watcher is already running")
            self.queue.watcher = self
            headers = [f"{k}: {v}" for k, v in self.queue._headers().items()]
            self.socket = websocket.create_connection(self.url, header=headers)
        while not self.closed:
            try:
                raw = self.socket.recv()
            except Exception:
                if self.closed:
                    return
                self.socket = websocket.create_connection(
                    self.url, header=[f"{k}: {v}" for k, v in self.queue._headers().items()]
                )
                continue
            frame = queue_pb2.DataFrameProto()  # type: ignore[attr-defined]
            frame.ParseFromString(raw)
            yield frame

    def results(self) -> Iterator[tuple[str, bytes]]:
        """``(request_id, data)`` of each pushed record.

        A record is committed when the caller asks for the next one (at least once:
        a record whose processing was cut short is delivered again).
        """
        for frame in self.run():
            yield frame.tags.get("requestId", ""), bytes(frame.data)
            self.queue.commit(frame.index)

    def close(self) -> None:
        with self.queue.watch_lock:
            self.closed = True
            if self.socket is not None:
                self.socket.abort()
            self.queue.watcher = None
