"""What the PAI-EAS target says when the API's answer is not a plain refusal: a gateway's
HTML error page instead of EAS's JSON, a server error (5xx), a request refused because this
machine's clock is off. Against the tests' EAS STAND-IN (tests/cloud/eas_standin.py), not
Alibaba Cloud."""

from __future__ import annotations

import pytest

from easlab.cli import main
from easlab.cloud.client import PaiClient
from easlab.cloud.errors import PaiError

SPEC = {
    "name": "r",
    "processor": "pmml",
    "model_path": "oss://models/m.pmml",
    "oss_endpoint": "oss-cn-hangzhou-internal.aliyuncs.com",
    "metadata": {"instance": 1},
}


def test_a_gateways_html_page_is_said_as_such_not_as_no_answer(eas, capsys):
    standin, host = eas
    standin.refuse = (502, "Bad Gateway", "Bad Gateway")
    standin.refuse_as_page = True
    code = main(["ls", "--target", "pai", "--region", "cn-hangzhou", "--pai-endpoint", host])
    err = capsys.readouterr().err
    assert code == 1
    assert "not PAI-EAS's JSON: 502 Bad Gateway" in err, err
    assert "<html>" not in err and "no answer from" not in err
    assert "gateway or proxy" in err and "--pai-endpoint" in err
    assert "Traceback" not in err


def test_a_server_error_says_it_is_eass_and_to_retry(eas):
    standin, host = eas
    standin.refuse = (
        503,
        "ServiceUnavailable",
        "The request has failed due to a temporary failure",
    )
    with pytest.raises(PaiError) as info:
        PaiClient("cn-hangzhou", endpoint=host).list()
    assert info.value.status == 503 and info.value.request_id
    assert "failed on its side" in info.value.hint and "request id" in info.value.hint


def test_a_clock_off_by_an_hour_says_to_set_the_clock(eas):
    standin, host = eas
    standin.clock_ahead = 3600  # the server's clock is an hour ahead of this machine's
    with pytest.raises(PaiError) as info:
        PaiClient("cn-hangzhou", endpoint=host).list()
    assert info.value.code == "InvalidTimeStamp.Expired"
    assert "clock is more than 15 minutes off" in str(info.value)


def test_a_passing_502_during_the_wait_for_a_create_does_not_end_it(eas, pai):
    """A read is asked again after a gateway's 502 or a 503: the create's wait goes on."""
    from easlab.client.control import wait_settled

    standin, _ = eas
    svc = pai.create(SPEC, wait=False)
    standin.refuse = (502, "Bad Gateway", "Bad Gateway")
    standin.refuse_as_page = True
    standin.refuse_calls = 2
    desc = wait_settled(pai, pai.describe(svc.name))
    assert desc["status"] == "Running"
    assert standin.refuse_calls == 0  # both refusals were met, and asked past


def test_a_call_that_changes_something_is_never_sent_twice(eas, pai):
    standin, _ = eas
    pai.create(SPEC, wait=False)
    standin.refuse = (
        503,
        "ServiceUnavailable",
        "The request has failed due to a temporary failure",
    )
    standin.refuse_calls = 1
    with pytest.raises(PaiError) as info:
        pai.stop("r")
    assert info.value.status == 503
    assert standin.actions().count("StopService") == 1


def test_a_read_refused_for_good_is_not_asked_again(eas, pai):
    standin, _ = eas
    standin.refuse = (403, "Forbidden.RAM", "User not authorized to operate")
    with pytest.raises(PaiError):
        pai.list()
    assert len(standin.requests) == 1


def test_a_create_whose_answer_is_lost_says_to_look_before_trying_again(eas, pai):
    """EAS created the service, then a gateway answered 504: the service is there, and
    the error says it may be."""
    standin, _ = eas
    standin.refuse = (504, "Gateway Timeout", "Gateway Timeout")
    standin.refuse_as_page = True
    standin.refuse_after = "CreateService"
    with pytest.raises(PaiError) as info:
        pai.create(SPEC, wait=False)
    assert "CreateService may have been done" in info.value.hint
    assert "easlab ls --target pai" in str(info.value)
    assert "r" in standin.services  # it was


def test_a_refused_create_is_not_said_to_maybe_have_been_done(eas, pai):
    standin, _ = eas
    standin.refuse = (400, "InvalidParameter", "metadata.instance must be a non-negative integer")
    standin.refuse_after = "CreateService"
    with pytest.raises(PaiError) as info:
        pai.create(SPEC, wait=False)
    assert "may have been done" not in str(info.value)


@pytest.mark.parametrize("signature", [None, "v2"])
def test_names_with_unusual_characters_are_signed_right(eas, signature):
    """The signature covers the path as sent (spaces, ~, *, +, %, /, unicode): the stand-in
    recomputes it, so a wrong one would be SignatureDoesNotMatch, not the 404 of a name
    that is not there."""
    standin, host = eas
    client = PaiClient("cn-hangzhou", endpoint=host, signature_algorithm=signature)
    for name in ("my model", "x~y", "a*b", "a+b", "a%b", "a/b", "名字"):
        with pytest.raises(PaiError) as info:
            client.describe(name)
        assert info.value.code == "InvalidService.NotFound", (name, str(info.value))
        assert f"Service {name} is not found" in str(info.value)
