"""A region or endpoint that cannot be right is refused before anything is built or sent,
saying what goes where; an endpoint's user:password never shows. Nothing here reaches a
network: each value is refused (or taken) by PaiClient itself."""

from __future__ import annotations

import pytest

from easlab.cli import main
from easlab.cloud.client import PaiClient
from easlab.cloud.errors import PaiSetupError


@pytest.mark.parametrize(
    ("region", "said"),
    [
        ("CN-Hangzhou", "in lowercase with hyphens: cn-hangzhou"),
        ("cn hangzhou", "in lowercase with hyphens: cn-hangzhou"),
        ("pai-eas.cn-hangzhou.aliyuncs.com", "goes in --pai-endpoint"),
        ("https://pai-eas.cn-hangzhou.aliyuncs.com", "goes in --pai-endpoint"),
        ("hangzhou", "a region ID such as cn-hangzhou"),
    ],
)
def test_a_value_that_is_no_region_id_says_what_a_region_is(region, said):
    with pytest.raises(PaiSetupError) as info:
        PaiClient(region)
    assert f"{region!r} is not a region" in str(info.value)
    assert said in str(info.value) and "cn-shanghai" in str(info.value)


def test_a_region_easlab_does_not_list_yet_is_let_through():
    assert PaiClient("eu-west-1").endpoint == "https://pai-eas.eu-west-1.aliyuncs.com"


@pytest.mark.parametrize(
    "endpoint",
    ["pai-eas.cn-hangzhou.aliyuncs.com:abc", "https://x.example.com/api/", "x.example.com?a=1"],
)
def test_an_endpoint_with_more_than_host_and_port_is_refused(endpoint):
    with pytest.raises(PaiSetupError) as info:
        PaiClient("cn-hangzhou", endpoint=endpoint)
    assert "takes host[:port]" in str(info.value) and endpoint in str(info.value)


def test_an_endpoint_with_a_password_is_refused_without_showing_it(test_credentials, capsys):
    argv = ["ls", "--target", "pai", "--region", "cn-hangzhou"]
    code = main([*argv, "--pai-endpoint", "https://ram-user:Pa55word@pai-eas.example.com"])
    err = capsys.readouterr().err
    assert code == 1 and "takes host[:port]" in err
    assert "Pa55word" not in err


def test_a_trailing_slash_is_fine():
    client = PaiClient("cn-hangzhou", endpoint="https://pai-eas.cn-hangzhou.aliyuncs.com/")
    assert client.endpoint == "https://pai-eas.cn-hangzhou.aliyuncs.com"
