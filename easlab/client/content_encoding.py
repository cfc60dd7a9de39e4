"""Undo an answer's ``Content-Encoding`` (gzip, deflate) as urllib3 does, within a size cap.

The official client reads every answer through urllib3, which undoes gzip
(``x-gzip`` too) and deflate whatever the request asked: a gateway that
compresses is invisible to code written for it. easlab does the same, with
two differences on purpose:

* the decoded size is capped (``max_size``; :data:`DEFAULT_MAX_DECODED_BYTES`
  in :class:`~easlab.client.transport.HTTPTransport`), so a small "gzip bomb"
  cannot take the memory of the process (urllib3 inflates it all);
* a stream that ends early is an error, not a shorter answer.

What urllib3 leaves alone stays as it came: no ``Content-Encoding``,
``identity``, or only codings it cannot undo (``br`` and ``zstd`` without
their optional packages, which the official client does not install).
Everything here is a pure function on bytes.
"""

from __future__ import annotations

import zlib

from easlab.errors import EaslabError

__all__ = ["DEFAULT_MAX_DECODED_BYTES", "ContentDecodingError", "decode_content"]

#: The most bytes an encoded answer may decode to by default: 256 MiB, well above
#: a batch of large tensors, well below what a decompression bomb reaches.
DEFAULT_MAX_DECODED_BYTES = 256 * 1024 * 1024

_GZIP = 16 + zlib.MAX_WBITS  # a gzip header and trailer around deflate data
_ZLIB = zlib.MAX_WBITS  # RFC 1950: a zlib header and checksum around deflate data
_RAW = -zlib.MAX_WBITS  # RFC 1951 deflate data alone
_CODINGS = ("gzip", "x-gzip", "deflate")


class ContentDecodingError(EaslabError):
    """An answer's body could not be decoded as its ``Content-Encoding`` says.

    ``too_large`` is True when it decodes to more than the cap: another attempt
    would get the same answer.
    """

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


class _TooLarge(Exception):
    pass


class _Cut(Exception):
    pass


def decode_content(body: bytes, content_encoding: str, max_size: int) -> bytes:
    """``body`` with the codings of ``content_encoding`` undone, last applied first.

    ``max_size`` bounds what any stage may decode to; more raises
    :class:`ContentDecodingError` (``too_large``), without ever holding more
    than ``max_size`` + 1 bytes of output. Example::

        decode_content(gzip.compress(b"hi"), "gzip", 1 << 20) == b"hi"
    """
    codings = [c.strip() for c in content_encoding.lower().split(",")]
    codings = [c for c in codings if c and c != "identity"]
    known = [c for c in codings if c in _CODINGS]
    if not known:
        return body  # urllib3 passes what it cannot undo (br, zstd, ...) as it came
    if len(known) != len(codings):
        unknown = ", ".join(repr(c) for c in codings if c not in _CODINGS)
        # urllib3 fails on such an answer too (it takes the unknown coding for deflate).
        raise ContentDecodingError(
            f"the answer is encoded {content_encoding!r}: easlab undoes gzip and deflate, "
            f"not {unknown}"
        )
    for coding in reversed(codings):
        try:
            body = _gunzip(body, max_size) if coding != "deflate" else _inflate(body, max_size)
        except _TooLarge:
            raise ContentDecodingError(
                f"the {coding}-encoded answer ({len(body)} bytes) decodes to more than "
                f"{max_size} bytes, the most this transport takes (a decompression bomb?); "
                f"if such an answer is expected, pass a larger cap: "
                f"PredictClient(..., transport=HTTPTransport(max_decoded_bytes={max_size * 4}))",
                too_large=True,
            ) from None
        except _Cut:
            raise ContentDecodingError(
                f"the {coding}-encoded answer ({len(body)} bytes) ends before its {coding} "
                "stream does: the server or a gateway cut it"
            ) from None
        except zlib.error as exc:
            raise ContentDecodingError(
                f"the answer says Content-Encoding: {content_encoding} but its body is not "
                f"valid {coding} data ({exc})"
            ) from None
    return body


def _decompress(obj: zlib._Decompress, data: bytes, out: bytearray, max_size: int) -> None:
    """Feed ``data`` to ``obj`` into ``out``, never letting ``out`` grow past ``max_size`` + 1."""
    while data:
        # max_length 0 would mean "no limit": len(out) <= max_size keeps it >= 1
        out += obj.decompress(data, max_size + 1 - len(out))
        if len(out) > max_size:
            raise _TooLarge
        data = obj.unconsumed_tail


def _gunzip(body: bytes, max_size: int) -> bytes:
    """gzip data: every member, as urllib3 and gzip(1) read it; what follows the
    last whole member and is not one (zero padding, garbage) is ignored as they do."""
    out = bytearray()
    data = body
    first = True
    while data:
        obj = zlib.decompressobj(_GZIP)
        before = len(out)
        try:
            _decompress(obj, data, out, max_size)
        except zlib.error:
            if first:
                raise
            del out[before:]
            break
        if not obj.eof:
            if first or len(out) > before:
                raise _Cut
            break  # trailing bytes that decode to nothing: padding
        first = False
        data = obj.unused_data
    return bytes(out)


def _inflate(body: bytes, max_size: int) -> bytes:
    """deflate data: zlib-wrapped as RFC 9110 says, or raw as some servers send it
    (urllib3 tries both in that order); bytes after the stream's end are ignored."""
    if not body:
        return body
    try:
        obj = zlib.decompressobj(_ZLIB)
        out = bytearray()
        _decompress(obj, body, out, max_size)
    except zlib.error:
        obj = zlib.decompressobj(_RAW)
        out = bytearray()
        _decompress(obj, body, out, max_size)
    if not obj.eof:
        raise _Cut
    return bytes(out)
