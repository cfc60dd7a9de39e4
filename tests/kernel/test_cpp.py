"""C processors: a real shared library built with gcc, loaded through the SPEC §6 C ABI."""

from __future__ import annotations

import shutil
import subprocess
import textwrap

import pytest
from kernel_helpers import ECHO_APP, post, wait_for

TOKEN = "tok-" + "x" * 8

ECHO_C = r"""
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

typedef struct { char prefix[64]; } model_t;

void *initialize(const char *model_entry, const char *model_config, int *state) {
    model_t *m = calloc(1, sizeof(model_t));
    snprintf(m->prefix, sizeof(m->prefix), "%s:", model_config ? model_config : "");
    *state = 0;
    return m;
}

int process(void *model_buf, const void *input, int size, void **output, int *output_size) {
    model_t *m = (model_t *)model_buf;
    if (size == 4 && memcmp(input, "boom", 4) == 0) {
        volatile int *p = NULL;
        *p = 1;  /* segfault on purpose */
    }
    if (size == 3 && memcmp(input, "bad", 3) == 0) {
        const char *msg = "bad input";
        *output = malloc(strlen(msg));
        memcpy(*output, msg, strlen(msg));
        *output_size = (int)strlen(msg);
        return 422;
    }
    if (size == 7 && memcmp(input, "unknown", 7) == 0) {
        *output = NULL;
        *output_size = 0;
        return 7;
    }
    size_t plen = strlen(m->prefix);
    char *out = malloc(plen + size);
    memcpy(out, m->prefix, plen);
    memcpy(out + plen, input, size);
    *output = out;
    *output_size = (int)(plen + size);
    return 200;
}
"""

FAILING_INIT_C = r"""
void *initialize(const char *e, const char *c, int *state) { *state = -1; return 0; }
int process(void *m, const void *i, int s, void **o, int *os) { return 200; }
"""

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None, reason="gcc is needed to build the test library"
)


def build(tmp_path_factory, name: str, source: str):
    folder = tmp_path_factory.mktemp(f"cpp_{name}")
    (folder / f"{name}.c").write_text(textwrap.dedent(source))
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-O1",
            "-o",
            str(folder / f"lib{name}.so"),
            str(folder / f"{name}.c"),
        ],
        check=True,
    )
    return folder


def cpp_spec(name, folder, entry, **extra):
    spec = {
        "name": name,
        "token": TOKEN,
        "processor_type": "cpp",
        "processor_path": str(folder),
        "processor_entry": entry,
        "model_config": "cfg",
        "metadata": {"instance": 1},
    }
    spec.update(extra)
    return spec


@pytest.fixture(scope="module")
def echo_lib(tmp_path_factory):
    return build(tmp_path_factory, "echo", ECHO_C)


def test_cpp_echo_end_to_end(kernel, echo_lib):
    svc = kernel.create(cpp_spec("cpp_echo", echo_lib, "libecho.so"))
    assert svc.status == "Running", svc.desc["message"]
    resp = post(svc.url, b"hello", TOKEN)
    assert resp.status_code == 200 and resp.content == b"cfg:hello"
    big = b"z" * 300_000
    assert post(svc.url, big, TOKEN).content == b"cfg:" + big
    resp = post(svc.url, b"bad", TOKEN)
    assert resp.status_code == 422 and resp.content == b"bad input"
    assert post(svc.url, b"unknown", TOKEN).status_code == 400


def test_segfault_kills_only_its_instance(kernel, echo_lib, python_service):
    svc = kernel.create(cpp_spec("cpp_crash", echo_lib, "libecho.so"))
    neighbour = python_service("cpp_neighbour", ECHO_APP)
    pid = kernel.client.workers("cpp_crash")[0]["pid"]
    resp = post(svc.url, b"boom", TOKEN)
    # 502 at once (no retry on the instance it crashed), never the kernel
    assert resp.status_code == 502
    assert "SIGSEGV" in resp.text
    assert post(neighbour.url, b"still here", TOKEN).content == b"still here"
    wait_for(
        lambda: (w := kernel.client.workers("cpp_crash")[0])["ready"] and w["pid"] != pid,
        what="the crashed cpp instance to restart",
    )
    assert kernel.client.workers("cpp_crash")[0]["restarts"] == 1
    assert post(svc.url, b"after", TOKEN).content == b"cfg:after"


def test_bad_library_and_failing_initialize_fail_the_service(kernel, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cpp_bad")
    (folder / "libnot.so").write_bytes(b"this is not an ELF file")
    svc = kernel.create(cpp_spec("cpp_badlib", folder, "libnot.so"))
    assert svc.status == "Failed"
    assert "cannot load" in svc.desc["message"] and "libnot.so" in svc.desc["message"]
    failing = build(tmp_path_factory, "failinit", FAILING_INIT_C)
    svc = kernel.create(cpp_spec("cpp_failinit", failing, "libfailinit.so"))
    assert svc.status == "Failed" and "state=-1" in svc.desc["message"]
