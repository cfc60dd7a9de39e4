"""Bodies back to back in one buffer (kernel/packed.py), as BATCH frames carry them."""

from __future__ import annotations

import numpy as np
import pytest

from easlab.kernel.frames import encode_batch, read_batch
from easlab.kernel.packed import Packed
from easlab.kernel.processors.base import Processor, packed_answers


def test_a_batch_frame_reads_back_its_ids_and_bodies_in_place():
    bodies = [b"first", b"", b"third body"]
    payload = encode_batch([7, 8, 9], bodies)
    ids, packed = read_batch(payload)
    assert ids == [7, 8, 9] and len(packed) == 3
    assert packed.sizes == [5, 0, 10] and packed.nbytes == 15
    assert packed.bodies() == bodies
    assert all(type(body) is bytes for body in packed.bodies())
    assert bytes(packed.joined()) == b"".join(bodies)
    assert packed.width() is None  # sizes differ


def test_width_is_the_size_every_body_shares():
    assert Packed.of([b"ab", b"cd", b"ef"]).width() == 2
    assert Packed.of([b"ab", b"c"]).width() is None
    assert Packed.of([]).width() is None
    _, packed = read_batch(encode_batch([1, 2], [b"xyz", b"uvw"]))
    assert packed.width() == 3 and bytes(packed.joined()) == b"xyzuvw"


def test_an_array_of_rows_is_one_part_of_equal_bodies():
    rows = np.arange(12, dtype=np.uint8).reshape(3, 4)
    packed = Packed([rows], [4, 4, 4])
    assert packed.nbytes == 12 and packed.width() == 4
    assert packed.bodies() == [row.tobytes() for row in rows]


def test_packed_answers_normalize_bodies_and_statuses_as_process_does():
    statuses, packed = packed_answers([("text", 0), (b"raw", 200), (None, 451), (b"x", "bad")])
    assert statuses == [200, 200, 451, 400]
    assert packed.bodies() == [b"text", b"raw", b"", b"x"]


class _Echo(Processor):
    def __init__(self) -> None:  # no context needed
        pass

    def process(self, data: bytes) -> tuple[bytes, int]:
        return data.upper(), 200


class _Short(_Echo):
    def process_batch(self, requests: list[bytes]) -> list[tuple[bytes, int]]:
        return [(b"only one", 200)]


def test_the_default_answer_batch_is_process_batch_on_bytes():
    _, packed = read_batch(encode_batch([1, 2], [b"ab", b"cd"]))
    statuses, answers = _Echo().answer_batch(packed)
    assert statuses == [200, 200] and answers.bodies() == [b"AB", b"CD"]


def test_a_process_batch_with_too_few_answers_is_an_error_naming_both_counts():
    _, packed = read_batch(encode_batch([1, 2], [b"ab", b"cd"]))
    with pytest.raises(RuntimeError, match="^process_batch answered 1 results for 2 requests$"):
        _Short().answer_batch(packed)


def test_a_flat_byte_view_is_taken_as_it_is_and_any_other_buffer_is_flattened():
    view = memoryview(b"abcd")
    assert Packed.of([view]).parts[0] is view  # Packed.of and __init__ wrap it once, not twice
    words = memoryview(np.arange(3, dtype=np.uint16))
    assert Packed.of([words]).sizes == [6]  # bytes, not items
