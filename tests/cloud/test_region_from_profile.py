"""The region when none is given: ``$EASLAB_PAI_REGION``, ``$ALIBABA_CLOUD_REGION_ID``, then
the ``region_id`` of the aliyun CLI's profile (``~/.aliyun/config.json`` under a temporary
HOME), and what the client then says about where its region came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from easlab.cli import main
from easlab.cloud.client import connect_pai
from easlab.cloud.errors import PaiSetupError

SECRET = "profile-secret-never-printed"
CONFIG = {
    "current": "default",
    "profiles": [
        {
            "name": "default",
            "mode": "AK",
            "access_key_id": "LTAIprofileKey0000",
            "access_key_secret": SECRET,
            "region_id": "cn-hangzhou",
        },
        {
            "name": "work",
            "mode": "AK",
            "access_key_id": "LTAIworkKey000000",
            "access_key_secret": SECRET,
            "region_id": "cn-beijing",
        },
        {"name": "noregion", "mode": "AK", "access_key_secret": SECRET},
    ],
}
FROM_DEFAULT = "the aliyun CLI's profile 'default' in ~/.aliyun/config.json"


@pytest.fixture
def home(test_credentials, monkeypatch) -> Path:
    """The temporary HOME (test_credentials set it), with no region in the environment."""
    for name in ("EASLAB_PAI_REGION", "ALIBABA_CLOUD_REGION_ID", "ALIBABA_CLOUD_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    # the region is read from the profile; the keys still come from the environment
    # (test_credentials keeps the SDK's own profile lookup off)
    monkeypatch.delenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED")
    return Path(test_credentials["HOME"])


def _write(home: Path, text: str) -> Path:
    folder = home / ".aliyun"
    folder.mkdir(exist_ok=True)
    path = folder / "config.json"
    path.write_text(text)
    return path


def test_the_current_profile_names_the_region(home):
    _write(home, json.dumps(CONFIG))
    pai = connect_pai()
    assert pai.region == "cn-hangzhou" and pai.region_source == FROM_DEFAULT
    assert pai.info()["region_source"] == FROM_DEFAULT


def test_alibaba_cloud_profile_picks_the_profile(home, monkeypatch):
    _write(home, json.dumps(CONFIG))
    monkeypatch.setenv("ALIBABA_CLOUD_PROFILE", "work")
    pai = connect_pai()
    assert pai.region == "cn-beijing" and "profile 'work'" in pai.region_source


def test_the_profile_comes_last(home, monkeypatch):
    _write(home, json.dumps(CONFIG))
    monkeypatch.setenv("ALIBABA_CLOUD_REGION_ID", "cn-shenzhen")
    assert (connect_pai().region, connect_pai().region_source) == (
        "cn-shenzhen",
        "$ALIBABA_CLOUD_REGION_ID",
    )
    monkeypatch.setenv("EASLAB_PAI_REGION", "cn-shanghai")
    assert connect_pai().region == "cn-shanghai"
    given = connect_pai("ap-southeast-1")
    assert (given.region, given.region_source) == ("ap-southeast-1", "")


def test_a_disabled_profile_gives_no_region(home, monkeypatch):
    """ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true turns the whole profile off, its region too."""
    _write(home, json.dumps(CONFIG))
    monkeypatch.setenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "TRUE")
    with pytest.raises(PaiSetupError, match="needs a region"):
        connect_pai()
    monkeypatch.setenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "false")
    assert connect_pai().region == "cn-hangzhou"


def test_no_file_is_no_region_and_no_error_of_its_own(home):
    with pytest.raises(PaiSetupError) as info:
        connect_pai()
    text = str(info.value)
    assert "needs a region" in text and "region_id in the aliyun CLI's profile" in text
    assert "config.json is not" not in text
    (home / ".aliyun" / "config.json").mkdir(parents=True)  # there, but not a readable file
    with pytest.raises(PaiSetupError, match="needs a region") as info:
        connect_pai()
    assert "gave none" not in str(info.value)


def test_a_malformed_file_is_named_in_the_no_region_error_never_its_content(home):
    path = _write(home, json.dumps(CONFIG)[:-2] + ",}")
    with pytest.raises(PaiSetupError) as info:
        connect_pai()
    text = str(info.value)
    assert "needs a region" in text and f"{path} is not valid JSON" in text, text
    assert SECRET not in text and "LTAI" not in text
    assert connect_pai("cn-hangzhou").region == "cn-hangzhou"  # not needed: not an error


@pytest.mark.parametrize(
    "profile, said",
    [("noregion", "the profile 'noregion' of"), ("nosuch", "has no profile 'nosuch'")],
)
def test_a_profile_without_a_region_is_said(home, monkeypatch, profile, said):
    _write(home, json.dumps(CONFIG))
    monkeypatch.setenv("ALIBABA_CLOUD_PROFILE", profile)
    with pytest.raises(PaiSetupError) as info:
        connect_pai()
    assert said in str(info.value) and SECRET not in str(info.value)


def test_the_dry_run_and_desc_say_the_region_came_from_the_profile(home, eas, oss, capsys):
    _write(home, json.dumps(CONFIG))
    spec = home / "svc.json"
    spec.write_text(
        json.dumps(
            {
                "name": "svc",
                "processor": "pmml",
                "model_path": "oss://models/svc.pmml",
                "oss_endpoint": "oss-cn-hangzhou-internal.aliyuncs.com",
                "metadata": {"instance": 1},
            }
        )
    )
    pai = ["--target", "pai", "--pai-endpoint", eas[1]]
    assert main(["create", str(spec), *pai, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "CreateService on PAI-EAS cn-hangzhou" in out
    assert f"region from {FROM_DEFAULT}" in out
    assert main(["desc", "nothere", *pai]) == 1
    err = capsys.readouterr().err
    assert "InvalidService.NotFound" in err
    assert f"no service of that name in cn-hangzhou (region from {FROM_DEFAULT})" in err
    assert SECRET not in out + err


def test_a_mistyped_region_in_the_profile_says_where_it_came_from(home, capsys, eas):
    _write(home, json.dumps(CONFIG).replace('"cn-hangzhou"', '"cn-hangzou"'))
    pai = connect_pai(endpoint=eas[1])
    plan = pai.plan_create(
        {
            "name": "svc",
            "processor": "pmml",
            "model_path": "oss://models/svc.pmml",
            "oss_endpoint": "oss-cn-hangzhou-internal.aliyuncs.com",
            "metadata": {"instance": 1},
        }
    )
    assert any(
        "'cn-hangzou' (region from the aliyun CLI's profile 'default'" in w
        for w in plan.portability
    ), plan.portability
