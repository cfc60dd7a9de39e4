"""The ``easlab`` command with ``--target pai``: every verb against the stand-ins."""

from __future__ import annotations

import json

import pytest

from easlab.cli import main


@pytest.fixture
def cli(eas, oss, monkeypatch, capsys):
    """Run ``easlab --target pai ...`` against the stand-ins; (exit status, stdout, stderr)."""
    monkeypatch.setenv("EASLAB_OSS_ENDPOINT", oss[1])
    common = ["--target", "pai", "--region", "cn-hangzhou", "--pai-endpoint", eas[1]]

    def run(*argv: str) -> tuple[int, str, str]:
        code = main([argv[0], *common, "--oss", "oss://models/easlab", *argv[1:]])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def model_dir(tmp_path):
    folder = tmp_path / "echo"
    folder.mkdir()
    (folder / "app.py").write_text("import allspark\n")
    (folder / "weights.bin").write_bytes(b"\0" * 4096)
    spec = {
        "name": "echo",
        "processor": "pmml",
        "model_path": "./echo",
        "metadata": {"instance": 1},
        "cloud": {"computing": {"instance_type": "ecs.c6.large"}},
    }
    path = tmp_path / "service.json"
    path.write_text(json.dumps(spec))
    return path


def test_every_verb_through_the_cli(cli, eas, oss, model_dir):
    standin, _ = eas
    code, out, err = cli("create", str(model_dir), "--timeout", "10")
    assert code == 0, err
    assert "[OK] Service is running" in out
    assert "Uploading oss://models/easlab/" in err  # the progress bar
    sent = [r for r in standin.requests if r.action == "CreateService"][-1].json()
    assert sent["model_path"].startswith("oss://models/easlab/")
    assert sent["model_path"].endswith("/echo.tar.gz")
    assert sent["oss_endpoint"] == "oss-cn-hangzhou-internal.aliyuncs.com"
    assert len(oss[0].puts) == 1 and oss[0].puts[0]["authorization"].startswith("OSS4-HMAC")

    code, out, _ = cli("desc", "echo")
    assert code == 0 and "Running" in out and "cn-hangzhou" in out and "ServiceConfig" in out
    code, out, _ = cli("ls")
    assert code == 0 and "echo" in out and "cn-hangzhou" in out
    code, out, _ = cli("w", "echo")
    assert code == 0 and "echo-0" in out and "10.0.0.1:8080" in out
    code, out, _ = cli("logs", "echo", "-n", "2")
    assert code == 0 and out.splitlines() == ["[echo] log line 118", "[echo] log line 119"]
    code, out, _ = cli("modify", "echo", "-Dmetadata.instance=2", "--timeout", "10")
    assert code == 0 and "[Total: 2, Pending: 0, Running: 2]" in out
    code, out, _ = cli("version", "echo", "1", "--timeout", "10")
    assert code == 0 and "is at version 1" in out
    code, out, _ = cli("stop", "echo")
    assert code == 0 and "is stopped" in out
    code, out, _ = cli("start", "echo", "--timeout", "10")
    assert code == 0 and "is running" in out
    code, out, _ = cli("release", "echo", "-w", "20", "-y")
    assert code == 0 and "weighted to 20%" in out
    assert [r for r in standin.requests if r.action == "ReleaseService"][-1].json() == {
        "Weight": 20
    }
    code, out, _ = cli("desc", "echo", "--json")
    assert json.loads(out)["weight"] == 20
    code, out, _ = cli("delete", "echo", "-y")
    assert code == 0 and "deleted successfully" in out
    assert standin.services == {}


def test_unchanged_model_is_not_uploaded_twice(cli, oss, model_dir):
    assert cli("create", str(model_dir), "--timeout", "10")[0] == 0
    assert cli("delete", "echo", "-y")[0] == 0
    code, _, err = cli("create", str(model_dir), "--timeout", "10")
    assert code == 0, err
    assert len(oss[0].puts) == 1  # same bytes, same content-hash key: skipped
    assert "Uploading" not in err


def test_failure_answer_shows_eas_code_and_message(cli, model_dir):
    code, out, err = cli("modify", "nothere", "-Dmetadata.instance=2")
    assert code == 1
    assert "InvalidService.NotFound" in err and "Service nothere is not found" in err
    # services live in one region: the line names it and how to list what is there
    assert "no service of that name in cn-hangzhou" in err and "easlab ls --target pai" in err
    code, out, err = cli("version", "nothere", "1")
    assert code == 1 and "UpdateServiceVersion" in err


def test_failed_service_reports_eas_message(cli, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text(
        json.dumps(
            {
                "name": "broken",
                "processor": "pmml",
                "model_path": "oss://models/broken.pmml",
                "oss_endpoint": "oss-cn-hangzhou-internal.aliyuncs.com",
                "metadata": {"instance": 1},
            }
        )
    )
    code, out, err = cli("create", str(path), "--timeout", "10")
    assert code == 1
    assert "[FAILED] Service broken failed to start" in err and "Failed to load model" in err


def test_dry_run_shows_the_service_json_and_uploads_and_sends_nothing(cli, eas, oss, model_dir):
    code, out, err = cli("create", str(model_dir), "--dry-run")
    assert code == 0, err
    assert "CreateService on PAI-EAS cn-hangzhou" in out
    assert "upload: model_path:" in out and "would upload" in out
    assert '"model_path": "oss://models/easlab/' in out
    assert "~ model_path:" in out and "+ oss_endpoint:" in out  # the diff against the local one
    assert "warning: 'cloud' is PAI-EAS's (the machine types (cloud.computing)" in out
    assert eas[0].requests == [] and oss[0].puts == []
    code, out, _ = cli("create", str(model_dir), "--dry-run", "--json")
    plan = json.loads(out)
    assert plan["service_json"]["model_path"].startswith("oss://models/easlab/")


def test_dry_run_reports_what_eas_would_refuse(cli, eas, tmp_path):
    path = tmp_path / "seldon.json"
    path.write_text(
        json.dumps(
            {
                "name": "sel",
                "processor": "pmml",
                "model_path": "m.pmml",
                "metadata": {"instance": 1, "resource": "eas-r-123"},
            }
        )
    )
    (tmp_path / "m.pmml").write_text("<PMML/>")
    code = main(
        [
            "create",
            "--target",
            "pai",
            "--region",
            "cn-hangzhou",
            "--pai-endpoint",
            eas[1],
            str(path),
            "--dry-run",
            "--allow-cpu-fallback",
        ]
    )
    assert code == 1  # the plan's error lines: a dry run exits as the create would
    code = main(
        [
            "create",
            "--target",
            "pai",
            "--region",
            "cn-hangzhou",
            "--pai-endpoint",
            eas[1],
            str(path),
        ]
    )
    assert code != 0
    assert eas[0].requests == []


def test_upload_prints_the_oss_path_and_does_not_send_twice(cli, oss, tmp_path):
    archive = tmp_path / "demo.tar.gz"
    archive.write_bytes(b"not really a tarball, bytes all the same" * 100)
    code, out, err = cli("upload", str(archive))
    assert code == 0, err
    uri = out.strip().splitlines()[-1]
    assert uri.startswith("oss://models/easlab/") and uri.endswith("/demo.tar.gz")
    assert len(oss[0].puts) == 1
    assert "Uploaded" in err and "is on OSS" in out
    code, again, again_err = cli("upload", str(archive))
    assert code == 0 and again.strip().splitlines()[-1] == uri and len(oss[0].puts) == 1
    # the repeat sends nothing and says so: nothing on either stream claims an upload
    assert "Already on OSS" in again_err and "Uploaded" not in again + again_err


def test_upload_with_the_local_kernel_explains_local_paths_are_used(capsys, tmp_path):
    assert main(["upload", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "nothing to upload" in out and "straight from your disk" in out


def test_upload_without_oss_says_how_to_set_it(pai, tmp_path, monkeypatch):
    from easlab.cloud.errors import PaiSetupError

    monkeypatch.delenv("EASLAB_OSS", raising=False)
    pai.oss = None
    with pytest.raises(PaiSetupError, match="--oss oss://BUCKET/PREFIX"):
        pai.upload(tmp_path)


def test_creating_a_name_that_exists_says_what_to_do_instead(cli, model_dir):
    assert cli("create", str(model_dir), "--timeout", "10")[0] == 0
    code, _, err = cli("create", str(model_dir), "--timeout", "10")
    assert code == 1 and "ServiceAlreadyExists" in err
    assert "easlab modify" in err and "create -r" in err


def test_dry_run_names_a_mistyped_region(eas, oss, monkeypatch, capsys, model_dir):
    """The dry run sends nothing, so without this a typo would pass until create."""
    monkeypatch.setenv("EASLAB_OSS_ENDPOINT", oss[1])
    argv = ["create", str(model_dir), "--dry-run", "--target", "pai", "--pai-endpoint", eas[1]]
    code = main([*argv, "--oss", "oss://models/easlab", "--region", "cn-hangzou"])
    out = capsys.readouterr().out
    assert code == 0
    assert "warning: region: 'cn-hangzou' is not a PAI-EAS region" in out
    assert "did you mean cn-hangzhou?" in out
    main([*argv, "--oss", "oss://models/easlab", "--region", "cn-hangzhou"])
    assert "warning: region" not in capsys.readouterr().out


def test_upload_of_a_file_that_is_not_there_names_the_file_not_a_field(cli, oss, tmp_path):
    code, _, err = cli("upload", str(tmp_path / "nothere.bin"))
    assert code == 2
    assert f"easlab upload: '{tmp_path / 'nothere.bin'}' does not exist on this machine" in err
    assert "processor_path" not in err and oss[0].requests == []


def test_upload_with_the_local_kernel_of_a_path_that_does_not_exist_says_so(capsys, tmp_path):
    # it said "[OK] nothing to upload" and exited 0: the typo came out at create
    missing = tmp_path / "model.tar.gz"
    assert main(["upload", str(missing)]) == 1
    captured = capsys.readouterr()
    assert "[OK]" not in captured.out
    assert f"{missing}: no such file or folder" in captured.err
    assert "straight from your disk" in captured.err


def test_a_custom_image_service_goes_to_pai_eas_and_the_local_kernel_says_why_not(
    cli, eas, tmp_path, capsys
):
    """EAS's image deployment (``containers``, no processor): the CLI refused it for
    PAI-EAS too, with "processor: required" (the local parse spoke for both targets).
    Now it is created on PAI-EAS as written; the local kernel refuses it naming
    ``containers``, before anything is sent (a stand-in for Alibaba Cloud's API here)."""
    path = tmp_path / "image.json"
    spec = {
        "name": "image_app",
        "containers": [{"image": "registry/app:1", "command": "python app.py", "port": 8000}],
        "metadata": {"instance": 1, "cpu": 1, "memory": 2000},
    }
    path.write_text(json.dumps(spec))
    code, out, err = cli("create", str(path), "--timeout", "10")
    assert code == 0, err
    sent = [r for r in eas[0].requests if r.action == "CreateService"][-1].json()
    assert sent["containers"] == spec["containers"] and "processor" not in sent
    code = main(["create", str(path), "--endpoint", "http://127.0.0.1:9"])  # nothing listens
    err = capsys.readouterr().err
    assert code == 1 and "containers: a custom image cannot run on the local kernel" in err


def test_delete_asks_eascmds_question_naming_the_region(cli, model_dir, monkeypatch):
    # eascmd: "Are you sure to delete the service [NAME] in [cn-shanghai]? [Y/n]"; easlab's
    # question for PAI-EAS named no region, the one thing that tells two same-named apart
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert cli("create", str(model_dir), "--timeout", "10")[0] == 0
    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    code, out, _ = cli("delete", "echo")
    assert code == 1
    assert "Are you sure to delete the service [echo] in [cn-hangzhou]? [Y/n]" in out
    assert "[CANCELLED] nothing deleted" in out
    monkeypatch.setattr("sys.stdin", Terminal("Y\n"))
    code, out, _ = cli("delete", "echo")
    assert code == 0 and "deleted successfully" in out
