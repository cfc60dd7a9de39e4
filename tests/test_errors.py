"""The error hierarchy users catch, and how each reads."""

from __future__ import annotations

import easlab
from easlab.errors import EaslabError, KernelError, KernelNotRunning, SpecError


def test_kernel_not_running_reads_without_a_fake_status():
    err = KernelNotRunning("no easlab kernel answers at http://127.0.0.1:1: start one")
    assert str(err) == "no easlab kernel answers at http://127.0.0.1:1: start one"
    assert isinstance(err, KernelError) and isinstance(err, EaslabError)


def test_kernel_error_without_an_http_answer_reads_without_a_fake_status():
    # a kernel that exited before listening, a timeout, a broken-off answer: no "(HTTP 0)"
    err = KernelError(0, "the easlab kernel exited with code 2 before listening")
    assert str(err) == "the easlab kernel exited with code 2 before listening"
    assert (err.status, err.message) == (0, "the easlab kernel exited with code 2 before listening")


def test_kernel_error_names_the_status_and_spec_error_the_field():
    assert str(KernelError(409, "service 'x' already exists")) == (
        "service 'x' already exists (HTTP 409)"
    )
    err = SpecError("metadata.instance", "required")
    assert (str(err), err.field) == ("metadata.instance: required", "metadata.instance")
    assert isinstance(err, ValueError)


def test_predict_exception_reads_like_the_official_one():
    err = easlab.PredictException(401, "wrong token")
    assert (str(err), err.code, err.message) == (
        "Code: 401, Message: wrong token",
        401,
        "wrong token",
    )
