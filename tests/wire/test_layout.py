"""The layout caches (easlab/wire/layout.py) never change a decoded request or an answer.

Issue 16: a body shaped like the last one is read at known offsets, an answer
shaped like the last one reuses its encoded header bytes. Each case here
compares the cached path with the full codec: requests that change one thing
at a time from the cached one, random byte flips (equal to the full parse or
the same error class), and answers of every layout. Hits are counted, not timed.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from easlab.kernel.processors.base import ProcessorError
from easlab.kernel.processors.tensor_codecs import (
    CachedDecoder,
    TensorRequest,
    decode_tf,
    decode_tf_layout,
    decode_torch,
    decode_torch_layout,
)
from easlab.wire.base import InconsistentMessage
from easlab.wire.layout import AnswerCache
from easlab.wire.tf import (
    TFRequest,
    encode_tf_response,
    parse_tf_request,
    parse_tf_request_layout,
    tf_response_parts,
)
from easlab.wire.torch import (
    TorchRequest,
    encode_torch_response,
    parse_torch_request_layout,
    torch_response_parts,
)

RNG = np.random.default_rng(16)


def tf_body(
    inputs: dict[str, Any], signature: str = "serving_default", fetch: tuple[str, ...] = ("y",)
) -> bytes:
    return TFRequest.from_numpy(signature, inputs, fetch=list(fetch)).to_string()


def torch_body(inputs: list[Any], fetch=(0,), map_inputs=None) -> bytes:
    return TorchRequest.from_numpy(inputs, fetch=list(fetch), map_inputs=map_inputs).to_string()


def same_array(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype.kind == "O":
        assert a.tolist() == b.tolist()
    else:
        assert a.tobytes() == b.tobytes()  # bit-exact, NaNs included


def same_request(a: TensorRequest, b: TensorRequest) -> None:
    assert (a.fmt, a.signature_name, a.fetch, a.fetch_dtypes) == (
        b.fmt,
        b.signature_name,
        b.fetch,
        b.fetch_dtypes,
    )
    assert list(a.inputs) == list(b.inputs)
    for name in a.inputs:
        same_array(a.inputs[name], b.inputs[name])


def outcome(decode: Any, body: bytes) -> TensorRequest | type[BaseException]:
    try:
        return decode(body)
    except (ValueError, ProcessorError) as exc:  # WireError is a ValueError
        return type(exc)


def agree(cached: CachedDecoder, full: Any, body: bytes) -> bool:
    """The cached decoder answers ``body`` as the full parser does; True when it hit."""
    hits = cached.hits
    got, want = outcome(cached, body), outcome(full, body)
    if isinstance(want, TensorRequest):
        assert isinstance(got, TensorRequest), (got, want)
        same_request(got, want)
    else:
        assert got is want
    return cached.hits > hits


def f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


# -- TF ------------------------------------------------------------------------

TF_BASE = {"x": f32(1, 784)}


def tf_variants() -> list[tuple[str, bytes, bool]]:
    """(what changed, body, whether the cache may answer it) from tf_body(TF_BASE)."""
    return [
        ("values", tf_body({"x": f32(1, 784)}), True),
        ("NaN and inf values", tf_body({"x": np.full((1, 784), np.nan, np.float32)}), True),
        ("a dim", tf_body({"x": f32(2, 392)}), False),
        ("rows", tf_body({"x": f32(2, 784)}), False),
        ("dtype float64", tf_body({"x": f32(1, 784).astype(np.float64)}), False),
        ("dtype int32", tf_body({"x": np.ones((1, 784), np.int32)}), False),
        ("input name, same length", tf_body({"z": f32(1, 784)}), False),
        ("fetch name, same length", tf_body(TF_BASE, fetch=("w",)), False),
        ("no fetch", tf_body(TF_BASE, fetch=()), False),
        ("signature, same length", tf_body(TF_BASE, signature="serving_defaulx"), False),
        ("no signature", tf_body(TF_BASE, signature=""), False),
        ("two inputs", tf_body({"x": f32(1, 784), "z": f32(1, 2)}), False),
        ("trailing garbage", tf_body(TF_BASE) + b"\x00", False),
        ("truncated", tf_body(TF_BASE)[:-1], False),
    ]


def test_tf_requests_that_change_one_thing_decode_as_the_full_parser():
    cached = CachedDecoder(decode_tf_layout)
    assert not agree(cached, decode_tf, tf_body(TF_BASE))  # learns the layout
    for what, body, may_hit in tf_variants():
        hit = agree(cached, decode_tf, body)
        assert hit == may_hit, what
        agree(cached, decode_tf, tf_body(TF_BASE))  # back to the first layout
    assert cached.hits >= 2


@pytest.mark.parametrize("count", [31, 32, 127, 128, 16383, 16384])
def test_value_lengths_that_shift_a_length_varint(count):
    """31→32 floats moves float_val's length from one varint byte to two (124→128 bytes)."""
    cached = CachedDecoder(decode_tf_layout)
    for n in (count, count + 1, count - 1, count, count):
        body = tf_body({"x": f32(1, n)})
        agree(cached, decode_tf, body)
    assert cached.hits == 1  # only the repeat of the same count


def test_packed_varints_of_another_count_fall_back_to_the_full_parser():
    """int_val [1, 200] and [1, 1, 1] have the same byte length; the shape needs 2 values."""
    cached = CachedDecoder(decode_tf_layout)
    base = tf_body({"x": np.array([[1, 200]], np.int32)})
    agree(cached, decode_tf, base)
    assert agree(cached, decode_tf, tf_body({"x": np.array([[200, 1]], np.int32)}))
    lying = base.replace(b"\x01\xc8\x01", b"\x01\x01\x01")  # same length, three values
    assert len(lying) == len(base)
    assert outcome(decode_tf, lying) is InconsistentMessage
    assert not agree(cached, decode_tf, lying)


def test_string_inputs_are_never_read_from_the_cache():
    cached = CachedDecoder(decode_tf_layout)
    body = tf_body({"s": np.array([b"ab", b"cd"], dtype=object)})
    for _ in range(3):
        agree(cached, decode_tf, body)
    assert cached.hits == 0
    assert parse_tf_request_layout(body)[1] is None


@pytest.mark.parametrize(
    "inputs",
    [
        {"x": f32(1, 784)},
        {"x": f32(2, 3), "k": np.arange(6, dtype=np.int64).reshape(2, 3) * 300},
        {"x": f32(4).astype(np.float64), "b": np.array([True, False, True])},
        {"img": f32(1, 3, 8, 8), "c": (f32(2) + 1j * f32(2)).astype(np.complex64)},
        {"h": f32(5).astype(np.float16), "u": np.array([1, 2, 300], np.uint16)},
    ],
    ids=["mlp", "float+int64", "double+bool", "image+complex", "half+uint16"],
)
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # half values
def test_random_byte_flips_equal_the_full_parse_or_its_error(inputs):
    body = tf_body(inputs)
    rnd = random.Random(16)
    hits = 0
    for _ in range(300):
        cached = CachedDecoder(decode_tf_layout)
        agree(cached, decode_tf, body)
        flipped = bytearray(body)
        for _ in range(rnd.choice((1, 1, 2))):
            flipped[rnd.randrange(len(body))] ^= 1 << rnd.randrange(8)
        hits += agree(cached, decode_tf, bytes(flipped))
    assert hits > 0  # flips inside the values are read from the cache


def test_request_layout_reads_what_the_full_parser_reads():
    body = tf_body({"a": f32(2, 3), "b": np.arange(4, dtype=np.int64)})
    parsed, layout = parse_tf_request_layout(body)
    assert layout is not None
    again = tf_body({"a": f32(2, 3), "b": np.arange(4, dtype=np.int64)[::-1].copy()})
    arrays = layout.read(again)
    assert arrays is not None
    full = parse_tf_request(again)
    for arr, name in zip(arrays, parsed.inputs, strict=True):
        same_array(arr, full.inputs[name])
        assert arr.flags.c_contiguous and arr.flags.aligned and arr.flags.writeable
        assert arr.flags.owndata or arr.base is not None and arr.base.flags.owndata
    assert layout.read(again[:-1]) is None


# -- Torch ---------------------------------------------------------------------


def test_torch_requests_that_change_one_thing_decode_as_the_full_parser():
    cached = CachedDecoder(decode_torch_layout)
    base = torch_body([f32(1, 3, 4, 4), f32(1, 2)])
    agree(cached, decode_torch, base)
    variants = [
        ("values", torch_body([f32(1, 3, 4, 4), f32(1, 2)]), True),
        ("a dim", torch_body([f32(1, 3, 2, 8), f32(1, 2)]), False),
        ("dtype", torch_body([f32(1, 3, 4, 4).astype(np.float64), f32(1, 2)]), False),
        ("fetch", torch_body([f32(1, 3, 4, 4), f32(1, 2)], fetch=(1,)), False),
        ("no fetch", torch_body([f32(1, 3, 4, 4), f32(1, 2)], fetch=()), False),
        ("one input", torch_body([f32(1, 3, 4, 4)]), False),
        ("map input", torch_body([f32(1, 3, 4, 4)], map_inputs={"m": f32(1, 2)}), False),
        (
            "snappy",
            TorchRequest.from_numpy([f32(1, 3, 4, 4), f32(1, 2)], flag=True).to_string(),
            False,
        ),
    ]
    for what, body, may_hit in variants:
        assert agree(cached, decode_torch, body) == may_hit, what
        agree(cached, decode_torch, base)


def test_torch_map_inputs_and_byte_flips():
    body = torch_body([f32(2, 3)], map_inputs={"m": np.arange(3, dtype=np.int64)})
    assert parse_torch_request_layout(body)[1] is not None
    rnd = random.Random(3)
    hits = 0
    for _ in range(300):
        cached = CachedDecoder(decode_torch_layout)
        agree(cached, decode_torch, body)
        flipped = bytearray(body)
        flipped[rnd.randrange(len(body))] ^= 1 << rnd.randrange(8)
        hits += agree(cached, decode_torch, bytes(flipped))
    assert hits > 0


# -- answers -------------------------------------------------------------------


def answers() -> list[dict[str, Any]]:
    batch = f32(8, 10)
    return [
        {"y": f32(1, 10)},
        {"y": f32(1, 10)},
        {"y": batch[2:3]},  # a batch's rows: a view
        {"y": f32(10, 1).T},  # not C-contiguous
        {"y": f32(1, 10).astype(">f4")},  # big-endian
        {"y": f32(1, 10).astype(np.float64)},
        {"y": f32(1, 10).astype(np.float64)},
        {"y": f32(1, 11)},
        {"z": f32(1, 10)},
        {"y": f32(1, 10), "p": f32(1, 3)},
        {"y": f32(1, 10), "p": f32(1, 3)},
        {"y": np.arange(10, dtype=np.int64).reshape(1, 10)},
        {"y": np.zeros((0, 10), np.float32)},
        {"y": f32(1, 10).astype(np.float16)},
        {"y": [1.0, 2.0]},
        {"y": f32(1, 10)},
    ]


def test_tf_answers_are_byte_identical_to_the_full_encoder():
    cache = AnswerCache()
    for outputs in answers():
        got = cache.encode(list(outputs.items()), lambda o=outputs: tf_response_parts(o))
        assert got == encode_tf_response(outputs)
    assert cache.hits == 5  # the repeats and the view/transposed/big-endian float32 layouts


def test_torch_answers_are_byte_identical_to_the_full_encoder():
    positional, mixed = AnswerCache(), AnswerCache()
    for outputs in answers():
        listed = list(outputs.values())
        got = positional.encode(list(enumerate(listed)), lambda v=listed: torch_response_parts(v))
        assert got == encode_torch_response(listed)
        named = {f"n{i}": a for i, a in enumerate(listed)}
        got = mixed.encode(
            [*enumerate(listed), *named.items()],
            lambda v=listed, n=named: torch_response_parts(v, n),
        )
        assert got == encode_torch_response(listed, named)
    assert positional.hits == 5 and mixed.hits == 5


# -- whole batches: bodies back to back, answers as the rows of one array -------


def _packed_tf(count: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [
        tf_body({"a": rng.random((2, 3), np.float32), "b": rng.random((2, 5))})
        for _ in range(count)
    ]


@pytest.mark.parametrize("offset", [0, 1])  # an unaligned buffer reads the same
def test_packed_bodies_read_as_each_body_read_then_stacked(offset):
    bodies = _packed_tf(5)
    _, layout = parse_tf_request_layout(bodies[0])
    assert layout is not None
    buffer = memoryview(b"\0" * offset + b"".join(bodies))[offset:]
    joined = layout.read_packed(buffer, len(bodies))
    assert joined is not None
    each = [layout.read(body) for body in bodies]
    for i, arr in enumerate(joined):
        same_array(arr, np.concatenate([arrays[i] for arrays in each]))
        assert arr.flags.c_contiguous and arr.flags.aligned and arr.flags.writeable
    assert [a.dtype for a in joined] == [np.float32, np.float64]


def test_packed_bodies_of_another_layout_or_size_are_not_read():
    bodies = _packed_tf(4)
    _, layout = parse_tf_request_layout(bodies[0])
    assert layout is not None
    # one body with another signature name of the same length: a byte outside the spans
    other = tf_body(
        {"a": np.ones((2, 3), np.float32), "b": np.ones((2, 5))}, signature="serving_defaulx"
    )
    assert len(other) == len(bodies[0])
    assert layout.read_packed(b"".join([*bodies[:3], other]), 4) is None
    assert layout.read_packed(b"".join(bodies), 3) is None  # sizes do not add up
    assert layout.read_packed(b"".join(bodies)[:-1], 4) is None
    assert layout.read_packed(b"", 0) is None
    # an int tensor (packed varints) is never read in one go
    ints = [tf_body({"a": np.arange(4, dtype=np.int64)}) for _ in range(2)]
    _, int_layout = parse_tf_request_layout(ints[0])
    assert int_layout is not None and int_layout.read_packed(b"".join(ints), 2) is None


@pytest.mark.parametrize("rows", [1, 3])
def test_packed_answers_are_each_part_encoded_alone(rows):
    callers = 4
    outputs = {
        "y": RNG.random((rows * callers, 10), np.float32),
        "z": RNG.random((rows * callers, 2)),
    }
    parts = [{n: o[i * rows : (i + 1) * rows] for n, o in outputs.items()} for i in range(callers)]
    tf_cache, torch_cache = AnswerCache(), AnswerCache()
    assert tf_cache.encode_packed(list(outputs.items()), rows) is None  # nothing learnt yet
    tf_cache.encode(list(parts[0].items()), lambda: tf_response_parts(parts[0]))
    packed = tf_cache.encode_packed(list(outputs.items()), rows)
    assert packed is not None and packed.dtype == np.uint8 and packed.shape[0] == callers
    assert [row.tobytes() for row in packed] == [encode_tf_response(p) for p in parts]
    listed = list(outputs.values())
    first = [o[:rows] for o in listed]
    torch_cache.encode(list(enumerate(first)), lambda: torch_response_parts(first))
    packed = torch_cache.encode_packed(list(enumerate(listed)), rows)
    assert packed is not None
    assert [row.tobytes() for row in packed] == [
        encode_torch_response(list(p.values())) for p in parts
    ]
    # parts of another shape than the cached one: the caller encodes each part
    assert tf_cache.encode_packed(list(outputs.items()), rows * 2) is None
