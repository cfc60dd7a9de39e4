"""``seldon_core.proto.prediction_pb2``: the message names component code annotates
its ``*_raw`` hooks with. Over easlab's REST contract those hooks receive and return
the JSON dict (as under seldon-core's REST server), so these are plain dict types.
"""

from typing import Any


class _Message(dict):  # type: ignore[type-arg]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)


class SeldonMessage(_Message):
    pass


class SeldonMessageList(_Message):
    pass


class Feedback(_Message):
    pass


class DefaultData(_Message):
    pass


class Meta(_Message):
    pass


class Tensor(_Message):
    pass


__all__ = ["DefaultData", "Feedback", "Meta", "SeldonMessage", "SeldonMessageList", "Tensor"]
