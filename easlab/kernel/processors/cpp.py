"""C/C++ processors: a shared library with the EAS C ABI, loaded with ctypes (SPEC §6).

::

    void *initialize(const char *model_entry, const char *model_config, int *state);
    int process(void *model_buf, const void *input_data, int input_size,
                void **output_data, int *output_size);

The library allocates ``*output_data`` with malloc; the host frees it. A crash
inside the library ends only its instance process, which the kernel restarts.
"""

from __future__ import annotations

import ctypes
import json
import os
from pathlib import Path
from typing import Any

from easlab.kernel.processors.base import Processor, ProcessorContext, ProcessorError

_libc = ctypes.CDLL(None)
_free = _libc.free
_free.argtypes = [ctypes.c_void_p]
_free.restype = None


def _library_path(ctx: ProcessorContext) -> Path:
    folder = ctx.processor_path
    if folder is None:
        raise ProcessorError(400, "a cpp processor needs `processor_path` (the .so or its folder)")
    if folder.is_file():
        return folder
    entry = ctx.processor_entry
    if not entry:
        libs = sorted(folder.glob("*.so"))
        if len(libs) != 1:
            raise ProcessorError(
                400,
                f"set processor_entry to the shared library in {folder} (found {len(libs)} .so)",
            )
        return libs[0]
    path = folder / entry
    if not path.is_file():
        raise ProcessorError(400, f"processor_entry {entry!r} not found in {folder}")
    return path


def _config_text(config: Any) -> bytes:
    if config is None:
        return b""
    if isinstance(config, str):
        return config.encode("utf-8")
    return json.dumps(config).encode("utf-8")


class CppProcessor(Processor):
    """Calls ``initialize`` once and ``process`` per request through ctypes."""

    def __init__(self, ctx: ProcessorContext) -> None:
        super().__init__(ctx)
        self._model: int | None = None
        self._process: Any = None

    def initialize(self) -> None:
        path = _library_path(self.ctx)
        os.chdir(path.parent)
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as exc:
            raise ProcessorError(400, f"cannot load {path}: {exc}") from None
        try:
            init, process = lib.initialize, lib.process
        except AttributeError as exc:
            raise ProcessorError(
                400,
                f"{path.name} does not export the EAS C ABI ({exc}); it needs "
                "`void *initialize(const char*, const char*, int*)` and "
                "`int process(void*, const void*, int, void**, int*)` with C linkage",
            ) from None
        init.restype = ctypes.c_void_p
        init.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
        process.restype = ctypes.c_int
        process.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.POINTER(ctypes.c_int),
        ]
        entry = str(self.ctx.model_entry or self.ctx.model_path or "").encode()
        state = ctypes.c_int(0)
        self._model = init(entry, _config_text(self.ctx.model_config), ctypes.byref(state))
        if state.value != 0:
            raise ProcessorError(400, f"initialize() of {path.name} failed (state={state.value})")
        self._process = process

    def process(self, data: bytes) -> tuple[bytes, int]:
        out = ctypes.c_void_p()
        size = ctypes.c_int(0)
        status = self._process(self._model, data, len(data), ctypes.byref(out), ctypes.byref(size))
        try:
            body = ctypes.string_at(out.value, size.value) if out.value and size.value > 0 else b""
        finally:
            if out.value:
                _free(out)
        return body, status
