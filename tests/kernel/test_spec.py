"""Service description parsing and validation (SPEC §5), table-driven."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from easlab.errors import SpecError
from easlab.spec import (
    ServiceSpec,
    apply_overrides,
    diff_specs,
    has_model_changes,
    local_refusal,
    parse_spec,
    processor_kind,
    wants_gpu,
)

PY = {
    "name": "echo",
    "processor_type": "python",
    "processor_path": "./app",
    "processor_entry": "app.py",
    "metadata": {"instance": 1},
}
TF = {
    "name": "mnist_saved_model_example",
    "generate_token": "true",
    "model_path": "http://eas-data.oss-cn-shanghai.aliyuncs.com/models%2Fmnist_saved_model.tar.gz",
    "processor": "tensorflow_cpu_1.12",
    "metadata": {"instance": 1, "cpu": 1},
}


def with_(base: dict, **changes) -> dict:
    out = json.loads(json.dumps(base))
    for key, value in changes.items():
        if key.startswith("meta_"):
            meta_key = key[5:].replace("__", ".")
            if value is ...:
                out["metadata"].pop(meta_key, None)
            else:
                out["metadata"][meta_key] = value
        elif value is ...:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def test_manual_tf_example_parses_with_defaults():
    spec = parse_spec(TF)
    assert isinstance(spec, ServiceSpec)
    assert spec.name == "mnist_saved_model_example"
    assert spec.processor == "tensorflow_cpu_1.12"
    assert spec.metadata.instance == 1 and spec.metadata.cpu == 1
    m = spec.metadata
    assert (m.gpu, m.worker_threads, m.batching, m.max_batch_size, m.max_batch_timeout_ms) == (
        0,
        5,
        False,
        16,
        50,
    )
    assert (m.keepalive_ms, m.io_threads, m.max_queue_size) == (5000, 4, 64)
    assert spec.warnings == []
    assert spec.token is None
    assert processor_kind(spec) == "tensorflow"
    assert wants_gpu(spec) == 0


def test_custom_python_processor_needs_no_model_path():
    spec = parse_spec(PY)
    assert spec.model_path is None
    assert spec.is_custom and processor_kind(spec) == "python"


@pytest.mark.parametrize(
    "doc, field, fragment",
    [
        (with_(PY, name=...), "name", 'e.g. "name": "my_service"'),
        (with_(PY, name=""), "name", "required"),
        (with_(PY, name="MyService"), "name", "lowercase letters"),
        (with_(PY, name="1abc"), "name", "starting with a letter"),
        (with_(PY, name="my-service"), "name", "not a valid service name"),
        (with_(PY, name=7), "name", "not a valid service name"),
        # `$` matched before a final newline, and no length was checked
        (with_(PY, name="echo\n"), "name", "'echo\\n' is not a valid service name"),
        (with_(PY, name="a" * 64), "name", "64 characters long; a service name has at most 63"),
        (with_(PY, name="a" * 300), "name", "at most 63"),
        (with_(PY, metadata=...), "metadata", '"metadata": {"instance": 1'),
        (with_(PY, metadata=[1]), "metadata", "must be an object"),
        (with_(PY, meta_instance=...), "metadata.instance", '"metadata": {"instance": 1}'),
        (with_(PY, meta_instance=-1), "metadata.instance", "≥ 0"),
        (with_(PY, meta_instance="two"), "metadata.instance", "must be a number"),
        (with_(PY, meta_instance=1.5), "metadata.instance", "whole number"),
        (with_(PY, meta_instance=True), "metadata.instance", "must be a number"),
        (with_(PY, meta_cpu="x"), "metadata.cpu", "must be a number"),
        (with_(PY, meta_gpu=-2), "metadata.gpu", "≥ 0"),
        (with_(PY, meta_memory="lots"), "metadata.memory", "MB"),
        (with_(PY, meta_workers=0), "metadata.workers", "≥ 1"),
        (with_(PY, meta_rpc__batching="maybe"), "metadata.rpc.batching", "true or false"),
        (with_(PY, meta_rpc__max_queue_size=0), "metadata.rpc.max_queue_size", "≥ 1"),
        (with_(PY, meta_rpc__keepalive=[1]), "metadata.rpc.keepalive", "must be a number"),
        (with_(TF, model_path=...), "model_path", "built-in processor 'tensorflow_cpu_1.12'"),
        (with_(PY, processor_type=..., processor_path=...), "processor", "processor_type"),
        (with_(PY, processor_type="ruby"), "processor_type", "python, cpp, java"),
        (with_(PY, processor_path=...), "processor_path", "required for a custom python"),
        (with_(PY, processor_entry=...), "processor_entry", '"processor_entry": "app.py"'),
        (
            with_(PY, processor_type="cpp", processor_entry=...),
            "processor_entry",
            "libprocessor.so",
        ),
        (with_(PY, processor_type="java"), "processor_mainclass", "com.example"),
        (
            with_(PY, processor_type=..., processor_entry="run.sh"),
            "processor_type",
            "python, cpp, java",
        ),
        (with_(PY, token=["a"]), "token", "must be a string"),
        (with_(PY, model_path=3), "model_path", "must be a string"),
        (with_(PY, generate_token="sometimes"), "generate_token", "true or false"),
    ],
)
def test_invalid_fields_name_the_field_and_the_fix(doc, field, fragment):
    with pytest.raises(SpecError) as info:
        parse_spec(doc)
    assert info.value.field == field
    assert fragment in info.value.message
    assert str(info.value).startswith(f"{field}: ")


def test_metadata_instance_message_is_the_documented_one():
    with pytest.raises(SpecError) as info:
        parse_spec(with_(PY, metadata={}))
    assert str(info.value) == (
        'metadata.instance: required — the number of instances, e.g. "metadata": {"instance": 1}'
    )


def test_a_yaml_metadata_line_without_its_colon_is_named():
    import yaml

    text = "name: a\nprocessor: pmml\nmodel_path: ./m.pmml\nmetadata:\n  instance 1\n"
    with pytest.raises(SpecError) as info:
        parse_spec(yaml.safe_load(text))  # YAML reads the metadata as the text 'instance 1'
    assert "got str 'instance 1' (a YAML line without its colon? write instance: 1)" in str(
        info.value
    )


@pytest.mark.parametrize(
    "meta, attr, expected",
    [
        ({"instance": "4"}, "instance", 4),
        ({"instance": 0}, "instance", 0),
        ({"instance": 1, "cpu": "2"}, "cpu", 2),
        ({"instance": 1, "cpu": 0.5}, "cpu", 0.5),
        ({"instance": 1, "memory": 2000}, "memory", 2000),
        ({"instance": 1, "memory": "2000M"}, "memory", 2000),
        ({"instance": 1, "memory": "4G"}, "memory", 4096),
        ({"instance": 1, "cuda": 10.0}, "cuda", "10.0"),
        ({"instance": 1, "gpu": "1"}, "gpu", 1),
        ({"instance": 1, "workers": 8}, "worker_threads", 8),
        ({"instance": 1, "rpc.worker_threads": "3"}, "worker_threads", 3),
        ({"instance": 1, "rpc.batching": "true"}, "batching", True),
        ({"instance": 1, "rpc.batching": False}, "batching", False),
        ({"instance": 1, "rpc": {"batching": True, "max_batch_size": 8}}, "max_batch_size", 8),
        ({"instance": 1, "rpc.max_batch_timeout": "20"}, "max_batch_timeout_ms", 20),
        ({"instance": 1, "rpc.keepalive": 100}, "keepalive_ms", 100),
        ({"instance": 1, "rpc.io_threads": 2}, "io_threads", 2),
        ({"instance": 1, "rpc.max_queue_size": "8"}, "max_queue_size", 8),
        ({"instance": 1, "resource": "eas-r-x", "region": "cn-shanghai"}, "region", "cn-shanghai"),
    ],
)
def test_metadata_values_are_coerced(meta, attr, expected):
    spec = parse_spec(with_(PY, metadata=meta))
    value = getattr(spec.metadata, attr)
    assert value == expected and type(value) is type(expected)


def test_workers_and_worker_threads_disagreeing_warns_and_rpc_wins():
    spec = parse_spec(with_(PY, metadata={"instance": 1, "workers": 2, "rpc.worker_threads": 7}))
    assert spec.metadata.worker_threads == 7
    assert any("rpc.worker_threads=7" in w for w in spec.warnings)


def test_unknown_keys_are_kept_with_a_warning():
    doc = with_(TF, data_image="img", cloud={"computing": {}}, extra_top=1)
    doc["metadata"].update({"rpc.enable_jemalloc": 1, "eas.handlers.disable_failure_handler": True})
    spec = parse_spec(doc)
    assert spec.metadata.extra == {
        "rpc.enable_jemalloc": 1,
        "eas.handlers.disable_failure_handler": True,
    }
    assert spec.raw["cloud"] == {"computing": {}}
    joined = "\n".join(spec.warnings)
    for key in (
        "cloud",
        "extra_top",
        "metadata.rpc.enable_jemalloc",
        "metadata.eas.handlers.disable_failure_handler",
    ):
        assert f"'{key}'" in joined
    # a documented key PAI-EAS reads is no unknown one: it is said to be PAI-EAS's
    assert "unknown key 'data_image'" not in joined
    assert "'data_image' is PAI-EAS's (the image the processor runs in)" in joined
    out = spec.to_dict()
    assert out["metadata"]["rpc.enable_jemalloc"] == 1 and out["extra_top"] == 1


@pytest.mark.parametrize(
    ("typo", "field", "meant"),
    [
        ({"procesor": "onnx"}, "procesor", "'processor'"),
        ({"model_pth": "./m"}, "model_pth", "'model_path'"),
        ({"metadata": {"instnace": 1}}, "metadata.instnace", "'metadata.instance'"),
        ({"metadata": {"instance": 1, "rpc.batchng": True}}, "metadata.rpc.batchng", "batching"),
        (
            {"metadata": {"instance": 1, "rpc": {"batchng": True}}},
            "metadata.rpc.batchng",
            "batching",
        ),
        # a metadata field at the top was kept as an unknown key, the service unchanged
        ({"instance": 2}, "instance", "'metadata.instance'"),
        ({"rpc.batching": True}, "rpc.batching", "'metadata.rpc.batching'"),
        ({"rpc": {"keepalive": 9000}}, "rpc", "'metadata.rpc.keepalive'"),
    ],
    ids=[
        "procesor",
        "model_pth",
        "instnace",
        "rpc.batchng",
        "nested rpc",
        "top instance",
        "top rpc.batching",
        "top rpc block",
    ],
)
def test_a_near_miss_key_is_an_error_naming_the_key_it_meant(typo, field, meant):
    doc = {
        "name": "typo",
        "processor": "onnx",
        "model_path": "./m.onnx",
        "metadata": {"instance": 1},
    }
    if "procesor" in typo:
        del doc["processor"]  # "processor: required" would hide the cause
    doc.update(typo)
    with pytest.raises(SpecError) as info:
        parse_spec(doc)
    assert info.value.field == field
    assert "did you mean" in str(info.value) and meant in str(info.value)
    assert "allow_unknown_keys" in str(info.value)
    # the explicit opt-out keeps it, as a warning (and the required-field check then speaks)
    if "procesor" not in typo and "instnace" not in str(typo):
        kept = parse_spec(doc, allow_unknown_keys=True)
        assert any(field in w for w in kept.warnings)


def test_to_dict_normalises_values_and_keeps_what_was_written():
    doc = with_(PY, metadata={"instance": "3", "rpc": {"batching": "true"}, "custom": "x"})
    out = parse_spec(doc).to_dict()
    assert out["metadata"] == {"instance": 3, "rpc.batching": True, "custom": "x"}
    assert out["processor_entry"] == "app.py"
    assert parse_spec(out).metadata.batching is True


def test_processor_type_inferred_from_entry_with_warning():
    spec = parse_spec(with_(PY, processor_type=...))
    assert spec.processor_type == "python"
    assert any("assuming 'python'" in w for w in spec.warnings)


def test_builtin_processor_wins_over_custom_fields_with_warning():
    spec = parse_spec(with_(TF, processor_path="./x", processor_type="python"))
    assert spec.processor == "tensorflow_cpu_1.12"
    assert any("ignored" in w for w in spec.warnings)


@pytest.mark.parametrize(
    "fields, served, warned",
    [
        # a built-in code beside custom fields: the code is served, the fields ignored
        ({"processor": "tensorflow_cpu_1.15", "model_path": "./m"}, "TensorFlow", True),
        ({"processor": "pytorch_cpu_1.6", "model_path": "./m"}, "PyTorch", True),
        # easlab's "python" code is a custom processor: no model_path, nothing ignored
        ({"processor": "python"}, "Python", False),
        ({}, "Python", False),
        ({"processor_type": "cpp", "processor_entry": "libecho.so"}, "Cpp", False),
    ],
)
def test_the_spec_check_and_the_kernel_agree_on_which_processor_serves(fields, served, warned):
    # The spec check warned "processor_path/processor_type are ignored: the built-in
    # processor is used" while the kernel served the custom app.py, and refused
    # "processor": "python" for lacking a model_path the python processor never reads.
    from easlab.kernel.processors import processor_target

    spec = parse_spec({**PY, **fields})
    target = processor_target(spec.processor, spec.processor_type, spec.processor_entry)
    assert target.rsplit(":", 1)[1] == f"{served}Processor"
    assert any("are ignored" in w for w in spec.warnings) == warned


def test_an_unknown_code_beside_an_app_py_is_refused_with_the_code_meant():
    # "python3.9" was served as the custom app.py under a warning that said the
    # built-in processor 'python3.9' was used
    from easlab.kernel.processors import processor_target

    spec = parse_spec({**PY, "processor": "python3.9", "model_path": "./app"})
    assert any("built-in processor 'python3.9' is used" in w for w in spec.warnings)
    with pytest.raises(
        SpecError, match=r"unknown processor code 'python3.9' \(did you mean 'python'\?\)"
    ):
        processor_target(spec.processor, spec.processor_type, spec.processor_entry)


def test_yaml_text_and_files(tmp_path: Path):
    yaml_text = (
        "name: echo\nprocessor_type: python\nprocessor_path: ./app\n"
        "processor_entry: app.py\nmetadata:\n  instance: 2\n  rpc.batching: true\n"
    )
    assert parse_spec(yaml_text).metadata.instance == 2
    f = tmp_path / "svc.yaml"
    f.write_text(yaml_text)
    spec = parse_spec(f)
    assert spec.metadata.batching is True and spec.base_dir == tmp_path.resolve()
    assert parse_spec(str(f)).name == "echo"
    j = tmp_path / "svc.json"
    j.write_text(json.dumps(TF))
    assert parse_spec(str(j)).processor == "tensorflow_cpu_1.12"
    assert parse_spec(json.dumps(TF)).name == TF["name"]


def test_json_syntax_error_gives_line_and_column(tmp_path: Path):
    f = tmp_path / "bad.json"
    f.write_text('{\n  "name": "x",\n  "metadata": {"instance": 1,}\n}\n')
    with pytest.raises(SpecError) as info:
        parse_spec(f)
    assert "line 3, column" in str(info.value) and str(f) in str(info.value)
    with pytest.raises(SpecError, match=r"line 1, column \d+"):
        parse_spec('{"name": "x" "metadata": 1}')


def test_a_missing_comma_says_a_comma_is_missing():
    with pytest.raises(SpecError, match="line 3, column 3.*a comma is missing before this point"):
        parse_spec('{\n  "name": "x"\n  "metadata": {"instance": 1}\n}\n')
    with pytest.raises(SpecError) as info:
        parse_spec('{"name": "x", "metadata": {"instance": 1}, "metadata": {"cpu": 1}}')
    assert 'beside "name")' in str(info.value) and '"metadata")' not in str(info.value)


def test_a_key_written_twice_is_named_not_silently_dropped(tmp_path: Path):
    # two metadata blocks: JSON keeps the last, so "instance" vanished and the
    # refusal was "metadata.instance: required" for a field visible in the file
    f = tmp_path / "dup.json"
    f.write_text(
        '{"name": "x", "processor": "onnx", "model_path": "./m",\n'
        ' "metadata": {"instance": 3},\n "metadata": {"cpu": 1}}\n'
    )
    with pytest.raises(SpecError) as info:
        parse_spec(f)
    assert info.value.field == "metadata"
    assert "twice" in str(info.value) and "merge" in str(info.value)
    with pytest.raises(SpecError, match="instance: written twice"):
        parse_spec('{"name": "x", "metadata": {"instance": 1, "instance": 2}}')


def test_yaml_syntax_error_gives_line():
    with pytest.raises(SpecError, match=r"invalid YAML .* at line \d+, column \d+"):
        parse_spec("name: x\nmetadata: {a: 1\n  b: [1, 2\n")


@pytest.mark.parametrize("source", ["[1, 2]", "just a string: [", "- a\n- b\n"])
def test_non_object_documents_are_refused(source):
    with pytest.raises(SpecError):
        parse_spec(source)


def test_missing_file_is_named(tmp_path: Path):
    missing = tmp_path / "nope.json"
    with pytest.raises(SpecError, match="not found: .*nope.json"):
        parse_spec(str(missing))
    with pytest.raises(SpecError, match="not found"):
        parse_spec(missing)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"metadata.instance": "10", "metadata.cpu": "5"}, {"instance": 10, "cpu": 5}),
        ({"metadata.cpu": "0.5"}, {"instance": 1, "cpu": 0.5}),
        ({"metadata.rpc.batching": "true"}, {"instance": 1, "rpc.batching": True}),
        ({"metadata.rpc.batching": "FALSE"}, {"instance": 1, "rpc.batching": False}),
        ({"metadata.region": "cn-beijing"}, {"instance": 1, "region": "cn-beijing"}),
    ],
)
def test_apply_overrides_eascmd_semantics(overrides, expected):
    original = with_(PY)
    out = apply_overrides(original, overrides)
    assert out["metadata"] == expected
    assert original["metadata"] == {"instance": 1}  # the input is not modified
    parse_spec(out)


def test_apply_overrides_top_level_nested_and_json_values():
    doc = with_(PY, metadata={"instance": 1, "rpc": {"keepalive": 100}})
    out = apply_overrides(
        doc, {"token": "abc", "metadata.rpc.keepalive": "200", "model_config": '{"a": 1}'}
    )
    assert out["token"] == "abc" and out["model_config"] == {"a": 1}
    assert out["metadata"]["rpc"] == {"keepalive": 200}
    with pytest.raises(SpecError, match="name is not an object"):
        apply_overrides(doc, {"name.first": "x"})
    assert apply_overrides({}, {"metadata.instance": "2"}) == {"metadata": {"instance": 2}}


@pytest.mark.parametrize(
    "new, changed",
    [
        ({"metadata": {"instance": 3}}, False),
        ({"token": "x"}, False),
        ({"model_path": TF["model_path"]}, False),
        ({"model_path": "./other.tar.gz"}, True),
        ({"model_entry": "m"}, True),
        ({"model_config": {"a": 1}}, True),
        ({"processor": "tensorflow_cpu_1.15"}, True),
        ({"processor_path": "./p"}, True),
        ({"processor_entry": "x.py"}, True),
        ({"processor_type": "python"}, True),
        ({"processor_mainclass": "A"}, True),
    ],
)
def test_has_model_changes(new, changed):
    assert has_model_changes(TF, new) is changed


def test_diff_specs_lines():
    old = with_(TF, model_config={"a": 1})
    new = with_(TF, token="secret", model_config=..., meta_instance=2, meta_rpc__batching=True)
    assert diff_specs(old, new) == [
        "~ metadata.instance: 1 -> 2",
        "+ metadata.rpc.batching: true",
        "- model_config.a",
        "+ token: ****",
    ]
    assert diff_specs(old, old) == []
    assert diff_specs({"model_config": "x"}, {}) == ["- model_config"]


@pytest.mark.parametrize(
    "doc, kind, gpus",
    [
        (with_(TF, processor="tensorflow_gpu_1.15"), "tensorflow", 1),
        (with_(TF, processor="pytorch_cpu_1.6"), "pytorch", 0),
        (with_(TF, processor="pytorch_gpu_1.6", meta_gpu=2), "pytorch", 2),
        (with_(TF, processor="blade_cuda10.0_beta"), "blade", 1),
        (with_(TF, processor="blade_cpu"), "blade", 0),
        (with_(TF, processor="pmml"), "pmml", 0),
        (with_(TF, processor="onnx"), "onnx", 0),
        (with_(TF, processor="caffe_gpu"), "caffe", 1),
        (with_(TF, processor="easy_vision_gpu_tf1.12_torch151"), "easy_vision", 1),
        (with_(TF, processor="mediaflow"), "mediaflow", 1),
        (with_(TF, processor="xnn_cpu"), "xnn_cpu", 0),
        (with_(PY, processor_type="cpp", processor_entry="libecho.so"), "cpp", 0),
        (with_(PY, meta_gpu=1), "python", 1),
    ],
)
def test_processor_kind_and_wants_gpu(doc, kind, gpus):
    spec = parse_spec(doc)
    assert processor_kind(spec) == kind
    assert wants_gpu(spec) == gpus
    assert processor_kind(doc) == kind and wants_gpu(doc) == gpus


def test_a_name_of_63_characters_is_the_longest_accepted():
    assert parse_spec(with_(PY, name="a" * 63)).name == "a" * 63


@pytest.mark.parametrize("name", ["echo\n", "echo\r\n", "\necho", "ec ho", "echo\x00"])
def test_a_name_with_a_line_break_or_blank_is_refused(name):
    with pytest.raises(SpecError) as info:
        parse_spec(with_(PY, name=name))
    assert info.value.field == "name"


def test_a_long_name_is_shortened_in_the_message():
    with pytest.raises(SpecError) as info:
        parse_spec(with_(PY, name="b" * 300))
    assert len(str(info.value)) < 300 and "300 characters" in str(info.value)


def test_a_mistyped_processor_code_is_refused_with_the_code_meant():
    from easlab.kernel.processors import ONNX, processor_target

    assert processor_target("onnx") == processor_target("onnx_cu118") == ONNX
    for typo, meant in [
        ("onnxx", "onnx"),  # was taken for onnx without a word
        ("pytorch", "pytorch_cpu_1.10"),  # a family name alone, not "python"
        ("tensorflow", "tensorflow_cpu_2.15"),
        ("pmm", "pmml"),
    ]:
        with pytest.raises(SpecError) as err:
            processor_target(typo)
        assert err.value.field == "processor"
        assert f"unknown processor code {typo!r} (did you mean {meant!r}?)" in str(err.value)


def test_a_folder_given_as_the_service_description_says_so(tmp_path):
    from easlab.spec import load_spec_source

    with pytest.raises(SpecError) as err:
        load_spec_source(str(tmp_path))
    assert f"{tmp_path} is a folder; give its service description file" in str(err.value)


# -- the keys inside a queue or async service's queue settings --------------------------------

QUEUE = {"name": "jobs", "metadata": {"type": "Queue"}}


@pytest.mark.parametrize(
    ("settings", "field", "meant"),
    [
        ({"queue": {"max_lenght": 3}}, "queue.max_lenght", "queue.max_length"),
        ({"queue": {"sink": {"max_lenght": 3}}}, "queue.sink.max_lenght", "queue.sink.max_length"),
        ({"queue": {"snk": {"max_length": 3}}}, "queue.snk.max_length", "queue.sink.max_length"),
        (
            {"metadata": {"type": "Queue", "queue": {"max_lenght": 3}}},
            "metadata.queue.max_lenght",
            "metadata.queue.max_length",
        ),
        (
            {"metadata": {"type": "Queue", "queue.max_payload_size": 8}},
            "metadata.queue.max_payload_size",
            "metadata.queue.max_payload_size_kb",
        ),
        (
            {"metadata": {"type": "Queue", "queue.sink.max_lenght": 3}},
            "metadata.queue.sink.max_lenght",
            "metadata.queue.sink.max_length",
        ),
    ],
    ids=["top", "top sink", "top snk", "nested", "flat", "flat sink"],
)
def test_a_mistyped_queue_setting_is_named_with_the_one_it_meant(settings, field, meant):
    # {"queue": {"max_lenght": 3}} was accepted without a word: the queue kept its default
    doc = {**QUEUE, **settings}
    with pytest.raises(SpecError) as info:
        parse_spec(doc)
    assert info.value.field == field
    assert f"did you mean '{meant}'?" in str(info.value) and "allow_unknown_keys" in str(info.value)
    kept = parse_spec(doc, allow_unknown_keys=True)
    assert [w for w in kept.warnings if f"unknown key '{field}' kept but not used" in w]


def test_queue_settings_that_resemble_nothing_are_kept_with_a_warning():
    doc = {**QUEUE, "queue": {"retention": "7d"}}
    doc["metadata"] = {"type": "Queue", "queue": {"sink": {"ttl": 5}}}
    joined = "\n".join(parse_spec(doc).warnings)
    assert "unknown key 'queue.retention' kept but not used" in joined
    assert "unknown key 'metadata.queue.sink.ttl' kept but not used" in joined
    assert "max_payload_size_kb" in joined  # what a queue setting can be


def test_every_queue_setting_the_kernel_reads_passes_without_a_warning():
    doc = {
        **QUEUE,
        "queue": {"max_length": 9, "source": {"max_payload_size_kb": 2}, "sink": {"max_length": 5}},
        "metadata": {
            "type": "Queue",
            "queue": {"max_payload_size_kb": 4, "sink": {"max_payload_size_kb": 1}},
            "queue.max_length": 3,
            "queue.source.max_length": 2,
            "queue.sink.max_payload_size_kb": 1,
        },
    }
    assert parse_spec(doc).warnings == []


@pytest.mark.parametrize(
    "settings",
    [
        {"queue": {"max_length": 3}},
        {"metadata": {"instance": 1, "queue": {"max_length": 3}}},
        {"metadata": {"instance": 1, "queue.max_length": 3}},
    ],
)
def test_queue_settings_on_a_service_without_queues_are_said_unused(settings):
    # they were dropped without a word: only queue and async services have queues
    doc = {**PY, **settings}
    warned = [w for w in parse_spec(doc).warnings if "queue settings are not used" in w]
    assert len(warned) == 1 and "metadata.type: Async" in warned[0]
    doc["metadata"] = {**doc["metadata"], "type": "Async"}
    assert not [w for w in parse_spec(doc).warnings if "queue settings are not used" in w]


@pytest.mark.parametrize("kind", ["Queue", "Async"])
def test_a_queue_or_async_services_flat_limits_are_not_called_unused(kind):
    # kernel/queue.py settings_of reads "metadata": {"max_length": 5}; the spec check
    # warned that the kernel does not use it
    doc = {"name": "flat_limits", "metadata": {"type": kind, "max_length": 5}}
    if kind == "Async":
        doc = {**PY, "name": "flat_limits", "metadata": {"instance": 1, **doc["metadata"]}}
    assert parse_spec(doc).warnings == []
    from easlab.kernel.queue import settings_of

    assert settings_of(doc, "source") == {"max_length": 5}


def test_writes_says_whether_the_file_sets_a_field_under_any_of_its_keys():
    # the kernel takes a python app's own worker_threads unless the file sets one
    from easlab.spec import parse_spec

    def spec(metadata: dict) -> object:
        return parse_spec(
            {"name": "w", "processor": "onnx", "model_path": "/m", "metadata": metadata}
        )

    assert spec({"instance": 1, "rpc.worker_threads": 3}).writes("worker_threads")
    assert spec({"instance": 1, "rpc": {"worker_threads": 3}}).writes("worker_threads")
    assert spec({"instance": 1, "workers": 3}).writes("worker_threads")
    assert not spec({"instance": 1, "rpc.keepalive": 9000}).writes("worker_threads")


def test_generate_token_false_says_that_the_service_still_gets_a_token():
    # the field was accepted and silently ignored: the service got a token all the same,
    # as on EAS (its manual's desc of a generate_token "false" service shows a PrivateToken)
    spec = parse_spec(with_(TF, generate_token="false"))
    (warning,) = [w for w in spec.warnings if "generate_token" in w]
    assert warning.startswith("generate_token is false, but a service is always called with")
    assert "PrivateToken" in warning and 'set "token"' in warning
    # with a token of its own, or generate_token true, there is nothing to say
    assert not [w for w in parse_spec(with_(TF, generate_token=False, token="t0k")).warnings]
    assert not [w for w in parse_spec(TF).warnings if "generate_token" in w]


def test_a_custom_image_service_says_the_local_kernel_runs_no_images():
    """EAS's image deployment (``containers``, no processor) is a valid service.json on
    PAI-EAS. The local kernel answered "processor: required — a built-in processor
    code ...", as if the file were wrong; it now names ``containers``, why it cannot run
    here and what to do (PAI-EAS as it is; locally, the code as a processor)."""
    doc = {
        "name": "image_app",
        "containers": [{"image": "registry/app:1", "command": "python app.py", "port": 8000}],
        "metadata": {"instance": 1},
    }
    spec = parse_spec(doc)  # valid: PAI-EAS runs it (and no "unknown key" warning)
    assert spec.custom_image and not spec.warnings
    refusal = local_refusal(spec)
    assert refusal is not None and refusal.field == "containers"
    assert "a custom image cannot run on the local kernel" in str(refusal)
    assert "--target pai" in str(refusal) and '"processor_type": "python"' in str(refusal)
    assert (
        local_refusal(
            parse_spec({**doc, "containers": [], "processor": "pmml", "model_path": "m.pmml"})
        )
        is None
    )


def test_the_kernel_refuses_a_custom_image_naming_containers(kernel):
    """The kernel's own check, for a client that sends the file as it is (the easlab
    client refuses it before sending): a 400 naming ``containers``, nothing created."""
    import requests

    doc = {
        "name": "image_direct",
        "containers": [{"image": "registry/app:1", "command": "python app.py", "port": 8000}],
        "metadata": {"instance": 1},
    }
    resp = requests.post(
        f"{kernel.endpoint}/easlab/v1/services",
        json={"spec": doc},
        headers=kernel.admin_headers(),
        timeout=10,
    )
    assert resp.status_code == 400, resp.text
    assert "containers" in resp.text and "cannot run on the local kernel" in resp.text
    names = [s["name"] for s in kernel.services()]
    assert "image_direct" not in names


def test_a_masked_token_pasted_back_is_refused_by_name():
    """``easlab desc --json`` masks secrets as ****; that output saved as the service.json
    made **** the service's token (every caller then had to send ****). Refused, naming
    the field, as a PAI-EAS create refuses it; a real token is taken. (The PAI-only
    secrets, dockerAuth and a mount's password, the local kernel ignores; PAI-EAS's
    check refuses each: tests/cloud/test_secrets_masked.py.)"""
    spec = {"name": "x", "processor": "pmml", "model_path": "http://h/m.pmml"}
    spec["metadata"] = {"instance": 1}
    with pytest.raises(SpecError) as info:
        parse_spec({**spec, "token": "****"})
    assert info.value.field == "token"
    assert "the mask easlab prints in place of a secret" in str(info.value)
    assert "write the real value, or leave token out" in str(info.value)
    assert parse_spec({**spec, "token": "s3cret"}).token == "s3cret"
