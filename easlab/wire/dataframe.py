"""Queue-service records as objects: ``DataFrame``, ``DataFrameList`` and their codecs.

The official ``eas_prediction.queue_client`` names for a ``DataFrameProto``
(``index``, ``tags``, ``data``, ``message``) and a ``DataFrameListProto``, over
easlab's generated messages (``queue.proto``). Unlike the official codecs,
whose ``encode`` assigns to a protobuf map and so always raises, these encode::

    body = DataFrameCodec.encode(frame)
    DataFrameCodec.decode(body).data
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["DataFrame", "DataFrameList", "DataFrameCodec", "DataFrameListCodec"]


def _pb() -> Any:
    return importlib.import_module("easlab.wire.proto.queue_pb2")


class DataFrame:
    """One queue record: ``data`` (bytes), ``index``, ``tags`` (dict) and ``message``."""

    def __init__(self, df: Any = None) -> None:
        self.raw_data = df if df is not None else _pb().DataFrameProto()
        self.data: bytes = self.raw_data.data
        self.index: int = self.raw_data.index
        self.tags: dict[str, str] = dict(self.raw_data.tags)
        self.message: str = self.raw_data.message

    def set_data(self, data: bytes) -> None:
        self.data = data

    def set_index(self, index: int) -> None:
        self.index = index

    def set_message(self, message: str) -> None:
        self.message = message

    def set_tags(self, tags: dict[str, str]) -> None:
        self.tags = tags

    def __str__(self) -> str:
        return str(self.raw_data)

    def __repr__(self) -> str:
        return f"DataFrame(index={self.index}, tags={self.tags}, data={self.data[:40]!r})"


class DataFrameList:
    """The records of one ``get``: ``get_list()``, indexing and iteration."""

    def __init__(self, dataframe_list: Any) -> None:
        self.raw_data = dataframe_list
        self.dataframe_list = [DataFrame(df) for df in dataframe_list.index]

    def get_list(self) -> list[DataFrame]:
        return self.dataframe_list

    def __getitem__(self, item: int) -> DataFrame:
        return self.dataframe_list[item]

    def __len__(self) -> int:
        return len(self.dataframe_list)

    def __iter__(self) -> Iterator[DataFrame]:
        return iter(self.dataframe_list)

    def __str__(self) -> str:
        return str(self.raw_data)


def _proto(frame: DataFrame) -> Any:
    message = _pb().DataFrameProto()
    message.data = bytes(frame.data)
    message.index = int(frame.index)
    message.tags.update(frame.tags or {})
    message.message = frame.message
    return message


class DataFrameCodec:
    """``DataFrameProto`` bytes ⇄ ``DataFrame``."""

    def __init__(self, type: str = "protobuffer") -> None:  # noqa: A002  (the official name)
        self.type = type
        self.request_data = _pb().DataFrameProto()

    @classmethod
    def encode(cls, dataframe: DataFrame) -> bytes:
        return bytes(_proto(dataframe).SerializeToString())

    @classmethod
    def decode(cls, raw_data: bytes) -> DataFrame:
        message = _pb().DataFrameProto()
        message.ParseFromString(bytes(raw_data))
        return DataFrame(message)

    def to_string(self) -> bytes:
        return bytes(self.request_data.SerializeToString())


class DataFrameListCodec:
    """``DataFrameListProto`` bytes ⇄ ``DataFrameList``."""

    def __init__(self, type: str = "protobuffer") -> None:  # noqa: A002  (the official name)
        self.type = type
        self.request_data = _pb().DataFrameListProto()

    @classmethod
    def encode(cls, dataframe_list: Iterable[DataFrame]) -> bytes:
        message = _pb().DataFrameListProto()
        for frame in dataframe_list:
            message.index.append(_proto(frame))
        return bytes(message.SerializeToString())

    @classmethod
    def decode(cls, raw_data: bytes) -> DataFrameList:
        message = _pb().DataFrameListProto()
        message.ParseFromString(bytes(raw_data))
        return DataFrameList(message)

    def to_string(self) -> bytes:
        return bytes(self.request_data.SerializeToString())
