"""Service descriptions (service.json / YAML): parse, validate, override, compare.

The rules follow SPEC §5 and eascmd: ``name`` and ``metadata.instance`` are
required, numbers may be written as strings ("4"), ``workers`` is
``rpc.worker_threads``, and unknown keys (``rpc.enable_jemalloc``,
``eas.handlers.disable_failure_handler`` ...) are kept and reported as
warnings, never rejected: a file EAS accepts must load here too. A key one
letter away from a known one (``procesor``, ``rpc.batchng``) is a typo and an
error naming the key it meant, unless ``allow_unknown_keys``.
"""

from __future__ import annotations

import codecs
import copy
import difflib
import html
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from easlab.errors import SpecError

__all__ = [
    "blue_green_without_base",
    "Metadata",
    "service_name",
    "ServiceSpec",
    "apply_overrides",
    "check_name",
    "SpecDiff",
    "check_typos",
    "flat_lines",
    "diff_specs",
    "has_model_changes",
    "load_spec_source",
    "masked",
    "masked_descs",
    "mask_left_in",
    "MASK_LEFT",
    "not_packed_yet",
    "is_secret_name",
    "parse_spec",
    "processor_kind",
    "wants_gpu",
]

#: SPEC §5: lowercase letters, digits and _, starting with a letter. Used with
#: ``fullmatch`` (``check_name``): ``$`` would also match before a trailing newline,
#: and "echo\n" became a second service printed as "echo".
NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
#: The longest service name. Neither SPEC nor the manuals give EAS's figure; 63 is the
#: longest DNS label (RFC 1035), which the gateway host built from the name must fit
#: (``{service-name-with-dashes}.{NAMESPACE}``, SPEC §1), and it keeps the kernel's
#: files named after the service (``state/services/NAME.json``, ``logs/NAME.log``)
#: far below the 255-byte file name limit, past which a create failed with a 500.
NAME_MAX = 63
#: what a valid name looks like, for messages
NAME_RULE = (
    f"lowercase letters, digits and _, starting with a letter, at most {NAME_MAX} characters"
)

#: top-level keys EAS documents (SPEC §5); anything else is kept with a warning
KNOWN_KEYS = frozenset(
    {
        "name",
        "token",
        "generate_token",
        "queue",  # queue limits of a queue or async service (kernel/queue.py)
        "model_path",
        "oss_endpoint",
        "model_entry",
        "model_config",
        "processor",
        "processor_path",
        "processor_entry",
        "processor_mainclass",
        "processor_type",
        "data_image",
        "containers",  # a custom image: PAI-EAS's alone (local_refusal)
        "metadata",
        "seldon",
        "aiges",  # an aiges service's own settings: aiges.env (aiges_env)
    }
)

#: What PAI-EAS reads that the local kernel does not act on: kept, sent to PAI-EAS as written,
#: and said in a warning (``pai_eas_note``); known, so a near miss of one is named as a typo.
#: From Alibaba Cloud's "Deploy services with JSON" (help/en/pai/user-guide/
#: parameters-of-model-services: metadata, cloud, containers, dockerAuth, networking, storage,
#: warm_up_data_path) and "Mount storage" (mount-storage-to-services: storage items).
PAI_EAS_KEYS: dict[str, str] = {
    "cloud": "the machine types (cloud.computing) and VPC (cloud.networking) of the instances",
    "storage": "OSS, NAS, git or image mounts, each at its mount_path in the instances",
    "networking": "how the service is called: its gateway and endpoints",
    "dockerAuth": "the user:password (base64) of a private image registry",
    "autoscaler": "scaling the instance count with the load",
    "labels": "the service's labels",
    "warm_up_data_path": "requests replayed to warm up each new instance",
    "data_image": "the image the processor runs in",
    "containers": "the images the instances run",
}
#: metadata fields PAI-EAS reads and the local kernel does not (``PAI_EAS_KEYS``'s rule);
#: metadata.name is read by both (``service_name``)
PAI_EAS_METADATA: dict[str, str] = {
    "workspace_id": "the PAI workspace the service belongs to",
    "quota_id": "the quota the service draws on",
    "gpu_memory": "GPU memory (GB) each instance takes of a shared GPU",
    "group": "the blue-green group of the service (create -r sets it)",
    "enable_webservice": "deploys the service as a web app (its UI behind the gateway)",
    "rpc.proxy_path": "the path in the instance that requests are forwarded to",
}
#: the fields inside PAI-EAS's blocks, for naming a mistyped one (``check_typos``); a block
#: in a list (storage, containers) is written ``storage[]``. From the pages above and the
#: service.json that Alibaba Cloud's own SDK (pai-python-sdk, pai/model/_model.py) writes
PAI_EAS_NESTED: dict[str, frozenset[str]] = {
    "cloud": frozenset({"computing", "networking"}),
    "cloud.computing": frozenset({"instance_type", "instances"}),
    "cloud.networking": frozenset({"vpc_id", "vswitch_id", "security_group_id"}),
    "storage[]": frozenset({"mount_path", "oss", "nfs", "git", "image", "empty_dir"}),
    "storage[].oss": frozenset({"path", "readOnly", "endpoint"}),
    "storage[].nfs": frozenset({"server", "path", "readOnly"}),
    "containers[]": frozenset(
        {"image", "script", "command", "port", "env", "prepare", "health_check"}
    ),
    "containers[].prepare": frozenset({"pythonRequirements", "pythonRequirementsPath"}),
}
#: the service kinds (metadata.type) the local kernel runs: Standard (also no type) as
#: pai-python-sdk's ServiceType names it, Async and Queue (kernel/queue.py)
SERVICE_TYPES = ("Standard", "Async", "Queue")
#: fields whose value is a secret, at any depth (a mount's password): shown as **** wherever
#: a service.json is shown
SECRET_KEYS = ("token", "dockerAuth", "password")
#: any other key (``DB_PASSWORD`` in an env object, ``access_key_secret``) or env entry
#: name (``{"name": "HF_TOKEN", "value": ...}`` in ``containers[].env``) that names a
#: secret: its value is masked too (``is_secret_name``)
_SECRET_NAME = re.compile(
    r"passw(or)?d|secret|dockerauth|credential|private_?key|api_?key|access_?key"
    r"|(^|[_.-])(auth_?)?token($|[_.-])|^auth(orization)?$",
    re.IGNORECASE,
)

#: a secret whose value is the mask itself (a ``desc --json`` pasted back as the file):
#: refused on PAI-EAS (``mask_left_in``), and as the token by the local kernel
MASK_LEFT = (
    "is ****, the mask easlab prints in place of a secret (desc, desc --json, the dry "
    "run), not the secret: the service would get **** (a token every caller must then "
    "send, a registry login or a password that fails when an instance starts); write the "
    "real value, or leave token out and one is made"
)

#: custom processor languages (SPEC §5 ``processor_type``)
CUSTOM_PROCESSOR_TYPES = ("python", "cpp", "java")
#: ``processor`` codes that name a custom processor (its code in processor_path)
CUSTOM_PROCESSOR_CODES = ("python", "cpp")

#: fields whose change makes a new service version (SPEC §5: "model file and
#: processor information" in ``modify -s``)
MODEL_FIELDS = (
    "model_path",
    "model_entry",
    "model_config",
    "processor",
    "processor_path",
    "processor_entry",
    "processor_mainclass",
    "processor_type",
)

# metadata key -> (Metadata attribute, kind, minimum); kind is "int", "number", "bool", "str",
# "memory" (MB, "4G" accepted) or "seconds" (a number > 0)
_METADATA_FIELDS: dict[str, tuple[str, str, float | None]] = {
    "instance": ("instance", "int", 0),
    "cpu": ("cpu", "number", 0),
    "gpu": ("gpu", "int", 0),
    "memory": ("memory", "memory", 1),
    "cuda": ("cuda", "str", None),
    "resource": ("resource", "str", None),
    "region": ("region", "str", None),
    "workers": ("worker_threads", "int", 1),
    "rpc.worker_threads": ("worker_threads", "int", 1),
    "rpc.batching": ("batching", "bool", None),
    "rpc.max_batch_size": ("max_batch_size", "int", 1),
    "rpc.max_batch_timeout": ("max_batch_timeout_ms", "int", 0),
    "rpc.keepalive": ("keepalive_ms", "int", 1),
    "rpc.io_threads": ("io_threads", "int", 1),
    "rpc.max_queue_size": ("max_queue_size", "int", 1),
    # easlab's own (the EAS manual has no startup limit for processors): see ARCHITECTURE.md
    "startup_timeout": ("startup_timeout", "seconds", None),
    # easlab's own: intra-op threads of an instance's model runtime (onnxruntime, torch)
    "model_threads": ("model_threads", "int", 1),
}

#: the limits of a queue service's queue or an async service's two (kernel/queue.py
#: ``settings_of``): for every queue, or for one side (``source``: the input queue,
#: ``sink``: an async service's results). They are written in a top-level ``queue``
#: block, nested in ``metadata.queue``, or flat (``metadata.queue.sink.max_length``).
QUEUE_LIMITS = ("max_length", "max_payload_size_kb")
QUEUE_SIDES = ("source", "sink")
#: every queue setting, as its path inside a queue block
_QUEUE_KEYS = frozenset(
    [*QUEUE_LIMITS, *(f"{side}.{limit}" for side in QUEUE_SIDES for limit in QUEUE_LIMITS)]
)

_EXAMPLES = {
    "instance": "1, the number of instances (worker processes)",
    "cpu": "1, CPU quota per instance (1 quota = 1 core + 4 GB)",
    "gpu": "1, GPUs per instance",
    "memory": "2000, memory per instance in MB",
    "workers": "5, concurrent requests per instance",
    "rpc.worker_threads": "5, concurrent requests per instance",
    "rpc.batching": "true",
    "rpc.max_batch_size": "16",
    "rpc.max_batch_timeout": "50 (milliseconds)",
    "rpc.keepalive": "5000 (milliseconds)",
    "rpc.io_threads": "4",
    "rpc.max_queue_size": "64",
    "startup_timeout": "600, seconds an instance may spend in initialize()",
    "model_threads": "2, intra-op threads of each instance's onnxruntime / torch",
}


@dataclass
class Metadata:
    """The ``metadata`` block: resources and the ``rpc.*`` serving knobs."""

    instance: int
    cpu: float | int | None = None
    gpu: int = 0
    memory: int | None = None  # MB
    cuda: str | None = None
    resource: str | None = None
    region: str | None = None
    worker_threads: int = 5
    batching: bool = False
    max_batch_size: int = 16
    max_batch_timeout_ms: int = 50
    keepalive_ms: int = 5000
    io_threads: int = 4
    max_queue_size: int = 64
    #: seconds an instance may spend starting (initialize()); None: the kernel's
    #: default, $EASLAB_STARTUP_TIMEOUT or 300
    startup_timeout: float | None = None
    #: intra-op threads of each instance's model runtime; None: the cores the instance
    #: may use divided by the instances and the calls each runs at once, at most 4
    #: (processors/base.py, model_threads)
    model_threads: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # unknown metadata keys, kept


@dataclass
class ServiceSpec:
    """A validated service description; ``raw`` keeps the file as written."""

    name: str
    token: str | None
    processor: str | None
    processor_type: str | None
    processor_path: str | None
    processor_entry: str | None
    processor_mainclass: str | None
    model_path: str | None
    model_entry: str | None
    model_config: Any
    metadata: Metadata
    raw: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    #: folder relative local paths are resolved against (the file's folder), if known
    base_dir: Path | None = None

    @property
    def is_custom(self) -> bool:
        """True for a custom processor (``processor_path``/``processor_type``)."""
        return not self.processor

    @property
    def custom_image(self) -> bool:
        """A custom image and no processor (EAS's image deployment, ``containers``):
        PAI-EAS runs it, the local kernel cannot (``local_refusal``)."""
        return bool(self.raw.get("containers")) and not self.processor and not self.processor_type

    def writes(self, attr: str) -> bool:
        """Whether the file as written sets the ``Metadata`` field ``attr`` under any of its
        keys (``worker_threads``: ``rpc.worker_threads`` or ``workers``; flat or nested)."""
        written = _flatten_metadata(self.raw.get("metadata") or {})
        return any(_METADATA_FIELDS.get(key, ("",))[0] == attr for key in written)

    def to_dict(self) -> dict[str, Any]:
        """The service.json as a dict: the keys written, with normalised values."""
        out = copy.deepcopy(self.raw)
        # the local kernel keys its services on the top-level name: a metadata.name (PAI-EAS's
        # JSON deployment form) moves there, so a blue-green sibling's or a modify's name
        # replaces it (PAI-EAS gets the file as written: ``raw``)
        out["name"] = self.name
        for key in ("name", "token", "processor", "processor_type", "processor_entry"):
            if key in out:
                out[key] = getattr(self, key)
        meta = dict(out.get("metadata") or {})
        meta.pop("rpc", None)  # nested form flattened below
        written = _flatten_metadata(self.raw.get("metadata") or {})
        for key in written:
            if key in _METADATA_FIELDS:
                meta[key] = getattr(self.metadata, _METADATA_FIELDS[key][0])
            elif key != "name":
                meta[key] = written[key]
        meta.pop("name", None)
        out["metadata"] = meta
        return out


# ----------------------------------------------------------------------------- loading


#: the archive names ``easlab pysdk pack`` and eascmd's pysdk make of a project folder
_PACKED_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar", ".zip")


def not_packed_yet(path: Path) -> str:
    """For a package archive that is not there (``../demo.tar.gz``, app.json's
    processor_path right after ``easlab pysdk init demo``) while the project folder it
    is made from is (``demo`` with ENV/, app.py or app.json): a sentence saying to pack
    it; else "". Was: only "no such file", which read as a wrong path."""
    name = path.name
    suffix = next((s for s in _PACKED_SUFFIXES if name.lower().endswith(s)), None)
    if suffix is None or path.exists():
        return ""
    folder = Path(os.path.abspath(path.with_name(name[: -len(suffix)])))  # no demo/../demo
    if not folder.is_dir() or not any(
        (folder / part).exists() for part in ("ENV", "app.py", "app.json")
    ):
        return ""
    return (
        f"The package is not made yet: `easlab pysdk pack {folder}` makes {name} from the "
        f"project folder {folder} (ENV/ and the code at its root); pack again after each "
        f"edit of the code (to try an edit unpacked: `cd {folder} && ENV/bin/python app.py`)"
    )


def load_spec_source(source: str | Path | dict[str, Any]) -> tuple[dict[str, Any], Path | None]:
    """Read a service description into a dict without validating it.

    ``source`` is a dict, a file path, or JSON/YAML text. Returns the dict and
    the folder relative paths in it refer to (the file's folder; None for text
    and dicts). Syntax errors raise ``SpecError`` with the line and column.
    """
    if isinstance(source, dict):
        return copy.deepcopy(source), None
    if isinstance(source, Path):
        return _load_file(source), source.resolve().parent
    if not isinstance(source, str):
        raise SpecError(
            "",
            f"a service description is a dict, a file path or JSON/YAML text, not {type(source).__name__}",
        )
    text = source.strip()
    if not text:
        raise SpecError("", "the service description is empty: give a JSON/YAML file or text")
    if "\n" not in text and not text.startswith(("{", "[")):
        path = Path(text).expanduser()
        if path.is_file():
            return _load_file(path), path.resolve().parent
        if path.is_dir():
            raise SpecError(
                "",
                f"{path} is a folder; give its service description file "
                f'(e.g. service.json), or put "model_path": "{path}" in one',
            )
        if path.suffix.lower() in (".json", ".yaml", ".yml") or ":" not in text:
            raise SpecError(
                "",
                f"service description file not found: {path} (give an existing .json/.yaml file)",
            )
    return _parse_text(source, "the service description"), None


def _load_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
        # Windows PowerShell 5's `>` and Out-File write UTF-16 with its byte order mark
        utf16 = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        text = raw.decode("utf-16" if utf16 else "utf-8")
    except FileNotFoundError:
        raise SpecError("", f"service description file not found: {path}") from None
    except OSError as exc:
        raise SpecError("", f"cannot read service description {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        if _named_as_other(path):
            raise SpecError("", _not_a_description(path)) from None
        raise SpecError("", f"{path} is not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    suffix = path.suffix.lower()
    kind = "yaml" if suffix in (".yaml", ".yml") else "json" if suffix == ".json" else None
    try:
        return _parse_text(text, str(path), kind)
    except SpecError:
        if not _named_as_other(path):
            raise
        raise SpecError("", _not_a_description(path)) from None


def _named_as_other(path: Path) -> bool:
    """Whether the file's name says it is something else than a service description:
    `easlab create model.tar.gz` or `easlab test app.py` (eascmd upload's file, the
    processor's code) got "not UTF-8 text" or "invalid YAML in app.py at line 2"."""
    return path.suffix.lower() not in ("", ".json", ".yaml", ".yml", ".txt")


def _not_a_description(path: Path) -> str:
    if path.suffix.lower() in (".py", ".so", ".jar"):
        named = (
            f'"processor_path": "{path.parent}", "processor_entry": "{path.name}" '
            "(with its processor_type)"
        )
    else:
        named = f'"model_path": "{path}"'
    return (
        f"{path} is not a service description (a .json or .yaml file); name it in one, e.g. {named}"
    )


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` hook: a key written twice in one object is an error naming it.

    JSON keeps only the last of them, so a hand-edited file with two ``metadata``
    blocks silently lost the first one's ``instance`` and was then refused with
    "metadata.instance: required" for a field the user could see in the file.
    """
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            others = ", ".join(f'"{k}"' for k in data if k != key)
            beside = f" (beside {others})" if others else ""
            raise SpecError(
                str(key),
                f"written twice in the same object{beside}; JSON would keep "
                "only the last one and silently drop the first: merge them into one",
            )
        data[key] = value
    return data


def _parse_text(text: str, where: str, kind: str | None = None) -> dict[str, Any]:
    # Windows Notepad and PowerShell's Out-File write a byte order mark first: json.loads
    # refused such a service.json with "Unexpected UTF-8 BOM" at line 1, column 1
    text = text.removeprefix("\ufeff")
    if not text.strip():
        # json.loads said "Expecting value at line 1, column 1" of a file with nothing in it
        raise SpecError("", f"{where} is empty: write the service description in it")
    if kind is None:
        kind = "json" if text.lstrip().startswith("{") else "yaml"
    data: Any
    if kind == "json":
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
        except json.JSONDecodeError as exc:
            hint = "JSON allows no comments and no trailing commas"
            if exc.msg == "Expecting ',' delimiter":
                # the missing comma belongs after the value before this point,
                # usually at the end of the line above
                hint = f"a comma is missing before this point, e.g. at the end of the value before it; {hint}"
            raise SpecError(
                "",
                f"invalid JSON in {where} at line {exc.lineno}, column {exc.colno}: {exc.msg} "
                f"({hint})",
            ) from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise SpecError("", f"invalid YAML in {where}{at}: {problem}") from None
    if not isinstance(data, dict):
        raise SpecError(
            "",
            f"{where} must be an object of fields (name, processor, metadata ...), "
            f"not {type(data).__name__}",
        )
    return data


# ----------------------------------------------------------------------------- validation


#: how close an unknown key must be to a known one to count as its typo (difflib ratio)
_TYPO_CUTOFF = 0.8
_ALLOW_HINT = (
    "to keep a field easlab does not know yet, pass --allow-unknown-keys to create or "
    "modify (allow_unknown_keys=True in Python)"
)


def check_typos(raw: dict[str, Any]) -> None:
    """SpecError for the first key that is a near miss of a known one (``procesor``,
    ``metadata.instnace``, ``rpc.batchng``), with the key it probably meant.

    Keys that resemble nothing known (``rpc.enable_jemalloc``, real EAS keys
    the local kernel does not use) stay warnings: a file EAS accepts must load.
    """
    for key in raw:
        if key not in KNOWN_KEYS and key not in PAI_EAS_KEYS:
            # a metadata field written at the top ("instance": 2, `modify -Dinstance=2`)
            # was kept as an unknown key and the service left as it was
            misplaced = [k for k in _flatten_metadata({key: raw[key]}) if k in _METADATA_FIELDS]
            if misplaced:
                raise SpecError(
                    key,
                    f"unknown key: {misplaced[0]!r} is a metadata field: did you mean "
                    f"'metadata.{misplaced[0]}'? ({_ALLOW_HINT})",
                )
            known_keys = sorted(KNOWN_KEYS | set(PAI_EAS_KEYS))
            match = difflib.get_close_matches(key, known_keys, n=1, cutoff=_TYPO_CUTOFF)
            if match:
                raise SpecError(key, f"unknown key: did you mean {match[0]!r}? ({_ALLOW_HINT})")
    _check_pai_eas_typos(raw)
    for block, key in _unknown_queue_keys(raw):
        match = difflib.get_close_matches(key, sorted(_QUEUE_KEYS), n=1, cutoff=_TYPO_CUTOFF)
        if match:
            raise SpecError(
                f"{block}.{key}",
                f"unknown key: did you mean '{block}.{match[0]}'? ({_ALLOW_HINT})",
            )
    meta = raw.get("metadata")
    if not isinstance(meta, dict):
        return
    _check_service_type(meta.get("type"))
    known = sorted({*_METADATA_FIELDS, *PAI_EAS_METADATA, "name", "type"})
    for key in _flatten_metadata(meta):
        if key not in known and key.split(".")[0] != "queue":
            match = difflib.get_close_matches(key, known, n=1, cutoff=_TYPO_CUTOFF)
            if match:
                raise SpecError(
                    f"metadata.{key}",
                    f"unknown key: did you mean 'metadata.{match[0]}'? ({_ALLOW_HINT})",
                )


def _check_pai_eas_typos(raw: dict[str, Any]) -> None:
    """SpecError for a key inside PAI-EAS's blocks (``PAI_EAS_NESTED``: cloud, storage,
    containers) that is a near miss of one of the block's fields (``mount_pth``,
    ``readonly``): PAI-EAS would take the file and mount, or run, without it."""

    def walk(value: Any, block: str, where: str) -> None:
        if isinstance(value, list) and f"{block}[]" in PAI_EAS_NESTED:
            for index, item in enumerate(value):
                walk(item, f"{block}[]", f"{where}[{index}]")
            return
        fields = PAI_EAS_NESTED.get(block)
        if fields is None or not isinstance(value, dict):
            return
        for key, sub in value.items():
            if key not in fields:
                match = difflib.get_close_matches(key, sorted(fields), n=1, cutoff=_TYPO_CUTOFF)
                if match:
                    raise SpecError(
                        f"{where}.{key}",
                        f"unknown key: did you mean '{where}.{match[0]}'? ({_ALLOW_HINT})",
                    )
                continue
            walk(sub, f"{block}.{key}", f"{where}.{key}")

    for key in ("cloud", "storage", "containers"):
        if key in raw:
            walk(raw[key], key, key)


def _check_service_type(kind: Any) -> None:
    """SpecError for a ``metadata.type`` that is a near miss of a kind the local kernel runs
    (``Asnyc``): the service ran as a standard one, without its queues. Another kind is
    PAI-EAS's (parse_spec notes it)."""
    if kind is None or str(kind).lower() in map(str.lower, SERVICE_TYPES):
        return
    lowered = {t.lower(): t for t in SERVICE_TYPES}
    match = difflib.get_close_matches(str(kind).lower(), list(lowered), n=1, cutoff=_TYPO_CUTOFF)
    if match:
        raise SpecError(
            "metadata.type",
            f"unknown service type {str(kind)!r}: did you mean {lowered[match[0]]!r}? "
            f"({_ALLOW_HINT})",
        )


def _unknown_queue_keys(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """The keys inside the queue settings that are no queue setting, as (the block:
    ``queue`` or ``metadata.queue``, the key's path in it: ``max_lenght``, ``sink.max_lenght``).

    >>> _unknown_queue_keys({"metadata": {"queue": {"max_lenght": 3, "sink": {"max_length": 5}}}})
    [('metadata.queue', 'max_lenght')]
    """
    # (block, its settings, whether an object in it is a side's own block)
    blocks: list[tuple[str, dict[str, Any], bool]] = []
    if isinstance(raw.get("queue"), dict):
        blocks.append(("queue", raw["queue"], True))
    meta = raw.get("metadata")
    if isinstance(meta, dict):
        if isinstance(meta.get("queue"), dict):
            blocks.append(("metadata.queue", meta["queue"], True))
        # flat: "metadata": {"queue.sink.max_length": 5}
        flat = {k[len("queue.") :]: v for k, v in meta.items() if k.startswith("queue.")}
        blocks.append(("metadata.queue", flat, False))
    unknown = []
    for block, settings, sides in blocks:
        for key, value in settings.items():
            # a side's own block ("sink": {...}), or a mistyped one ("snk": {...})
            nested = sides and isinstance(value, dict)
            paths = [f"{key}.{sub}" for sub in value] if nested else [key]
            unknown += [(block, path) for path in paths if path not in _QUEUE_KEYS]
    return unknown


def _has_queue_settings(raw: dict[str, Any]) -> bool:
    """Whether a service.json sets queue limits: a ``queue`` block, ``metadata.queue``
    nested, or flat ``metadata.queue.*`` keys (``kernel/queue.py`` ``settings_of``)."""
    meta = raw.get("metadata")
    flat = isinstance(meta, dict) and any(
        key == "queue" or key.startswith("queue.") for key in meta
    )
    return bool(raw.get("queue")) or flat


def service_name(raw: dict[str, Any]) -> str:
    """The service's name: ``name``, or ``metadata.name`` as PAI-EAS's JSON deployment
    writes it (its page's example has no top-level name); SpecError when neither is
    given, one is no valid name, or the two differ.

    >>> service_name({"metadata": {"name": "demo", "instance": 1}})
    'demo'
    """
    meta = raw.get("metadata")
    inner = meta.get("name") if isinstance(meta, dict) else None
    top = raw.get("name")
    if top in (None, "") and inner not in (None, ""):
        try:
            return check_name(inner)
        except SpecError as exc:
            raise SpecError("metadata.name", exc.message) from None
    if top is None or top == "":
        raise SpecError(
            "name",
            f'required — the service name, e.g. "name": "my_service" ({NAME_RULE}); '
            'PAI-EAS\'s JSON deployment writes it in metadata: "metadata": {"name": ...}',
        )
    check_name(top)
    if inner not in (None, "") and inner != top:
        raise SpecError(
            "metadata.name",
            f"{_short(inner)}, and name says {_short(top)}: a service has one name; "
            "keep one of the two (or write the same name in both)",
        )
    return str(top)


def check_name(name: Any) -> str:
    """``name`` if it is a valid service name (``NAME_RULE``); SpecError on ``name`` if not.

    >>> check_name("my_service_v2")
    'my_service_v2'
    """
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise SpecError(
            "name",
            f'{_short(name)} is not a valid service name: use {NAME_RULE}, e.g. "my_service_v2"',
        )
    if len(name) > NAME_MAX:
        raise SpecError(
            "name",
            f"{_short(name)} is {len(name)} characters long; a service name has at most "
            f"{NAME_MAX} (it names the service's files and its gateway host): shorten it",
        )
    return name


def _short(name: Any) -> str:
    """``repr(name)``, its middle left out when it is long (a message stays one line)."""
    text = repr(name)
    return text if len(text) <= 80 else f"{text[:40]}...{text[-20:]}"


def parse_spec(
    source: str | Path | dict[str, Any], *, allow_unknown_keys: bool = False
) -> ServiceSpec:
    """Parse and validate a service description (SPEC §5).

    ``source``: a dict, a path to a .json/.yaml file, or JSON/YAML text.
    Raises ``SpecError(field, message)`` naming the field and how to fix it; a
    key that is a near miss of a known one is an error (did you mean ...?)
    unless ``allow_unknown_keys``.

    >>> parse_spec({"name": "echo", "processor_type": "python",
    ...             "processor_path": "./app", "processor_entry": "app.py",
    ...             "metadata": {"instance": 1}}).metadata.worker_threads
    5
    """
    raw, base_dir = load_spec_source(source)
    warnings: list[str] = []
    if raw.get("token") == "****":
        # `easlab desc --json` pasted back as the file: the one secret the local kernel
        # uses (every caller would have to send ****). The others (dockerAuth, a mount's
        # password) are PAI-EAS's, whose check lists them all (cloud/portability.py)
        raise SpecError("token", MASK_LEFT)
    if not allow_unknown_keys:
        # before the required-field checks: `procesor: onnx` is a typo, not a missing processor
        check_typos(raw)

    name = service_name(raw)
    # a queue service (metadata.type Queue) has no processor and no instances
    meta_raw = raw.get("metadata")
    kind = meta_raw.get("type") if isinstance(meta_raw, dict) else None
    queue_service = isinstance(kind, str) and kind.lower() == "queue"

    token = raw.get("token")
    if token is not None:
        if isinstance(token, (int, float)) and not isinstance(token, bool):
            token = str(token)
        if not isinstance(token, str):
            raise SpecError("token", f"must be a string, got {type(token).__name__}")
        token = token or None
    if "generate_token" in raw:
        generate = _as_bool("generate_token", raw["generate_token"])
        if not generate and token is None and not queue_service:
            # EAS gives every service a token all the same (its manual's desc of a
            # generate_token "false" service: AccessToken empty, PrivateToken set); taking
            # false as "no token" was silently not done here: say what happens instead
            warnings.append(
                "generate_token is false, but a service is always called with a token: "
                "PAI-EAS still makes one (desc shows it as PrivateToken, AccessToken empty), "
                "and so does the local kernel (desc's Token, which requests must send); to "
                'choose the token, set "token"'
            )

    for key in (
        "model_path",
        "model_entry",
        "processor",
        "processor_type",
        "processor_path",
        "processor_entry",
        "processor_mainclass",
        "oss_endpoint",
        "data_image",
    ):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise SpecError(key, f"must be a string, got {type(value).__name__} {value!r}")

    processor = raw.get("processor") or None
    processor_type = raw.get("processor_type") or None
    processor_path = raw.get("processor_path") or None
    processor_entry = raw.get("processor_entry") or None
    processor_mainclass = raw.get("processor_mainclass") or None
    model_path = raw.get("model_path") or None

    if processor and processor.lower() == "seldon":
        _check_seldon(raw, processor_path, processor_mainclass)
    elif processor and processor.strip().lower() == "aiges":
        # an aiges wrapper.py: the code is in processor_path, there is no model_path
        if not processor_path:
            raise SpecError(
                "processor_path",
                "required for an aiges service — the folder, archive or URL holding wrapper.py, "
                'e.g. "processor_path": "./wrapper"',
            )
        aiges_env(raw.get("aiges"))
    elif processor and not names_custom_processor(processor, processor_type, processor_entry):
        if processor_path or processor_type:
            warnings.append(
                f"processor_path/processor_type are ignored: the built-in processor {processor!r} "
                'is used (leave out "processor" for a custom processor)'
            )
        if not model_path:
            raise SpecError(
                "model_path",
                f"required for the built-in processor {processor!r} — the model's local "
                'folder, file, archive or http(s) URL, e.g. "model_path": "./model.tar.gz"',
            )
    elif not (queue_service and not processor_type and not processor_path):
        if not processor_type and not processor_path and raw.get("containers"):
            pass  # a custom image (EAS's image deployment): PAI-EAS's alone (local_refusal)
        else:
            processor_type = _custom_processor(
                processor,
                processor_type,
                processor_path,
                processor_entry,
                processor_mainclass,
                warnings,
            )

    metadata = _parse_metadata(raw, warnings, queue_service)

    # a custom image alone is refused by the local kernel (local_refusal), which says more
    image_alone = not processor and not processor_type
    for key in raw:
        if key == "containers" and image_alone:
            continue
        if key in PAI_EAS_KEYS and raw[key] not in (None, "", [], {}):
            warnings.append(pai_eas_note(key, PAI_EAS_KEYS[key]))
        elif key not in KNOWN_KEYS and key not in PAI_EAS_KEYS:
            warnings.append(f"unknown key {key!r} kept but not used by the local kernel")
    for block, key in _unknown_queue_keys(raw):
        warnings.append(
            f"unknown key '{block}.{key}' kept but not used by the local kernel (a queue "
            f"setting is one of {', '.join(sorted(_QUEUE_KEYS))})"
        )
    if kind is not None and str(kind).lower() not in map(str.lower, SERVICE_TYPES):
        warnings.append(
            pai_eas_note(
                "metadata.type",
                f"a {kind} service; the local kernel runs {', '.join(SERVICE_TYPES)} ones "
                "and serves this one as Standard",
            )
        )
    queued = isinstance(kind, str) and kind.lower() in ("queue", "async")
    if not queued and _has_queue_settings(raw):
        warnings.append(
            "the queue settings are not used: they apply to a queue service (metadata.type: "
            "Queue) or an async service (metadata.type: Async), and this service is neither"
        )

    return ServiceSpec(
        name=name,
        token=token,
        processor=processor,
        processor_type=processor_type,
        processor_path=processor_path,
        processor_entry=processor_entry,
        processor_mainclass=processor_mainclass,
        model_path=model_path,
        model_entry=raw.get("model_entry") or None,
        model_config=raw.get("model_config"),
        metadata=metadata,
        raw=raw,
        warnings=warnings,
        base_dir=base_dir,
    )


def pai_eas_note(field: str, what: str) -> str:
    """The warning for a field PAI-EAS reads and the local kernel does not act on."""
    return (
        f"{field!r} is PAI-EAS's ({what}): kept, and sent to PAI-EAS as written; the local "
        "kernel does not act on it"
    )


def _custom_processor(
    processor: str | None,
    processor_type: str | None,
    processor_path: str | None,
    processor_entry: str | None,
    processor_mainclass: str | None,
    warnings: list[str],
) -> str:
    """A custom processor's type, its fields checked (SpecError naming the first missing)."""
    if not processor_type and not processor_path:
        raise SpecError(
            "processor",
            'required — a built-in processor code (e.g. "processor": "tensorflow_cpu_1.15") '
            'or a custom processor ("processor_type": "python", "processor_path": "./app", '
            '"processor_entry": "app.py")',
        )
    if processor_type:
        processor_type = processor_type.lower()
    elif processor:  # "processor": "python" (or "cpp"): easlab's name for a custom one
        processor_type = processor.strip().lower()
    else:
        processor_type = _infer_processor_type(processor_entry, processor_mainclass)
        warnings.append(f"processor_type not given: assuming {processor_type!r}")
    if processor_type not in CUSTOM_PROCESSOR_TYPES:
        raise SpecError(
            "processor_type",
            f"{processor_type!r} is not a custom processor type: use one of "
            f'{", ".join(CUSTOM_PROCESSOR_TYPES)}, or set "processor" to a built-in code',
        )
    if not processor_path:
        raise SpecError(
            "processor_path",
            f"required for a custom {processor_type} processor — the folder, file, archive "
            'or http(s) URL holding its code, e.g. "processor_path": "./processor"',
        )
    if processor_type in ("python", "cpp") and not processor_entry:
        example = "app.py" if processor_type == "python" else "libprocessor.so"
        raise SpecError(
            "processor_entry",
            f"required for a {processor_type} processor — the main file inside "
            f'processor_path, e.g. "processor_entry": "{example}"',
        )
    if processor_type == "java" and not processor_mainclass:
        raise SpecError(
            "processor_mainclass",
            "required for a java processor — the class to load, e.g. "
            '"processor_mainclass": "com.example.MyProcessor"',
        )
    return processor_type


_SELDON_SERVICE_TYPES = ("MODEL", "ROUTER", "TRANSFORMER", "OUTPUT_TRANSFORMER", "COMBINER")


def names_custom_processor(
    processor: str | None, processor_type: str | None, processor_entry: str | None
) -> bool:
    """Whether a service.json's processor is its own code rather than a built-in one.

    A built-in ``processor`` code wins over custom fields given beside it (they
    are ignored, with a warning); ``"python"`` and ``"cpp"`` are easlab's codes
    for a custom processor. Without a code, a ``processor_type`` or an ``app.py``
    / ``.so`` entry names a custom processor. The kernel serves by the same rule
    (``processors.processor_target``), and ``processor_kind`` / ``wants_gpu`` read
    the code first, as this does.
    """
    code = (processor or "").strip().lower()
    if code:
        return code in CUSTOM_PROCESSOR_CODES
    entry = (processor_entry or "").strip().lower()
    return bool((processor_type or "").strip()) or entry.endswith((".py", ".so"))


def _check_seldon(raw: dict[str, Any], processor_path: str | None, mainclass: str | None) -> None:
    """``"processor": "seldon"``: the component's folder and class, and the optional
    ``seldon`` object (service_type, parameters, graph) — SPEC §6."""
    if not processor_path:
        raise SpecError(
            "processor_path",
            "required for a seldon processor — the folder, archive or URL holding the "
            'component module, e.g. "processor_path": "./model" with MyModel.py inside',
        )
    seldon = raw.get("seldon") or {}
    if not isinstance(seldon, dict):
        raise SpecError("seldon", f"must be an object, got {type(seldon).__name__}")
    if not mainclass and not seldon.get("graph"):
        raise SpecError(
            "processor_mainclass",
            'required for a seldon processor — the component class, e.g. "processor_mainclass": '
            '"MyModel" (loaded from MyModel.py, as seldon-core-microservice MyModel does)',
        )
    kind = seldon.get("service_type")
    if kind is not None and str(kind).upper() not in _SELDON_SERVICE_TYPES:
        raise SpecError(
            "seldon.service_type",
            f"unknown service_type {kind!r}; use one of {', '.join(_SELDON_SERVICE_TYPES)}",
        )
    _check_seldon_parameters(seldon.get("parameters", []), "seldon.parameters")
    graph = seldon.get("graph")
    if graph is not None and not isinstance(graph, dict):
        raise SpecError("seldon.graph", "must be an object with name, type and children")
    if graph:
        for own in ("service_type", "parameters"):
            # each node of a graph has its own type and parameters: these would be ignored
            if seldon.get(own) not in (None, []):
                raise SpecError(
                    f"seldon.{own}",
                    f"a service with seldon.graph takes no seldon.{own}: each node has its "
                    f"own ({'type' if own == 'service_type' else 'parameters'} in the node of "
                    f"seldon.graph); remove seldon.{own}, or seldon.graph to run "
                    "processor_mainclass alone",
                )
        _check_seldon_graph(graph, "seldon.graph", set())
    seldon_threads(seldon)
    seldon_env(seldon)


def _check_seldon_parameters(params: Any, field: str) -> None:
    if not isinstance(params, list) or not all(
        isinstance(p, dict) and {"name", "value", "type"} <= set(p) for p in params
    ):
        raise SpecError(
            field,
            'must be a list of {"name", "value", "type"} objects, e.g. '
            '[{"name": "alpha", "value": "0.5", "type": "FLOAT"}]',
        )


def _check_seldon_implementation(
    node: dict[str, Any], field: str, name: str, kind: str, children: list[Any]
) -> None:
    """A node without a class whose ``implementation`` names one of seldon-core's own:
    RANDOM_ABTEST (run by easlab: a ROUTER of two children, its one parameter ratioA a
    number); the others (prepackaged servers, old engine built-ins) are refused."""
    from easlab.seldon.abtest import BUILTINS, RANDOM_ABTEST, is_prepackaged

    implementation = str(node.get("implementation") or "")
    if implementation.upper() == RANDOM_ABTEST:
        if kind.upper() != "ROUTER" and "type" in node:
            raise SpecError(
                f"{field}.type",
                f"node {name!r}: RANDOM_ABTEST is a ROUTER (leave type out, or write ROUTER)",
            )
        if len(children) != 2:
            raise SpecError(
                f"{field}.children",
                f"node {name!r}: RANDOM_ABTEST routes between two children (ratioA of the "
                f"requests to the first), it has {len(children)}",
            )
        for param in node.get("parameters") or []:
            try:
                ratio_ok = param["name"] == "ratioA" and float(param["value"]) >= 0
            except (TypeError, ValueError):
                ratio_ok = False
            if not ratio_ok:
                raise SpecError(
                    f"{field}.parameters",
                    f"node {name!r}: RANDOM_ABTEST takes one parameter, ratioA, the share of "
                    'requests for the first child, e.g. [{"name": "ratioA", "value": "0.5", '
                    f'"type": "FLOAT"}}]; got {param!r}',
                )
    elif is_prepackaged(implementation) or implementation.upper() in BUILTINS:
        what = "prepackaged model server" if is_prepackaged(implementation) else "built-in"
        raise SpecError(
            f"{field}.implementation",
            f"node {name!r}: {implementation} is seldon-core's {what}, which easlab does not "
            "run (of its implementations, only RANDOM_ABTEST); write the node as a component "
            'class and name it in "class", e.g. "class": "MyModel" (MyModel.py)',
        )


def _check_seldon_graph(node: dict[str, Any], field: str, names: set[str]) -> None:
    """One node of ``seldon.graph`` and its children, as a SeldonDeployment's graph: a
    name of its own (meta.routing, meta.requestPath and feedback tell nodes apart by
    it), one of seldon-core's types (MODEL by default), the class as text, typed
    parameters, and children a list of such nodes."""
    name = node.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(
            f"{field}.name",
            "every graph node needs a name (a string), e.g. "
            '{"name": "classifier", "type": "MODEL", "class": "MyModel"}',
        )
    if name in names:
        raise SpecError(
            f"{field}.name",
            f"the node name {name!r} is used twice; give each graph node its own name "
            "(meta.routing, meta.requestPath and feedback tell nodes apart by it)",
        )
    names.add(name)
    from easlab.seldon.units import NODE_METHODS, UNKNOWN_TYPE

    declared = node.get("methods")
    if declared is not None and (
        not isinstance(declared, list)
        or not all(isinstance(m, str) and m.upper() in NODE_METHODS for m in declared)
    ):
        raise SpecError(
            f"{field}.methods",
            f"node {name!r}: methods names the calls of the node besides its type's, a list "
            f'of {", ".join(NODE_METHODS)} (e.g. ["TRANSFORM_INPUT"]); got {declared!r}',
        )
    kind = node.get("type", UNKNOWN_TYPE if declared else "MODEL")
    if not isinstance(kind, str) or kind.upper() not in (*_SELDON_SERVICE_TYPES, UNKNOWN_TYPE):
        raise SpecError(
            f"{field}.type",
            f"node {name!r} has type {kind!r}; use one of {', '.join(_SELDON_SERVICE_TYPES)} "
            f"(or {UNKNOWN_TYPE} with the node's methods)",
        )
    if kind.upper() == UNKNOWN_TYPE and not declared:
        # seldon-core's operator refuses it so, a node the executor would never call
        raise SpecError(
            f"{field}.methods",
            f"node {name!r} of type {UNKNOWN_TYPE} has no methods: change it to a known type "
            f"or list the methods it defines (of {', '.join(NODE_METHODS)})",
        )
    for key in ("class", "implementation"):
        value = node.get(key)
        if value is not None and not isinstance(value, str):
            raise SpecError(
                f"{field}.{key}",
                f"node {name!r}: the component class as a string (loaded from <class>.py), "
                f"got {type(value).__name__} {value!r}",
            )
    _check_seldon_parameters(node.get("parameters") or [], f"{field}.parameters")
    children = node.get("children") or []
    if not isinstance(children, list):
        raise SpecError(
            f"{field}.children",
            f"node {name!r}: children must be a list of nodes, got {type(children).__name__}",
        )
    if not node.get("class"):
        _check_seldon_implementation(node, field, name, kind, children)
    for index, child in enumerate(children):
        where = f"{field}.children[{index}]"
        if not isinstance(child, dict):
            raise SpecError(
                where,
                f"node {name!r}: each child must be an object with name, type and class, "
                f"got {type(child).__name__} {child!r}",
            )
        _check_seldon_graph(child, where, names)


def seldon_threads(seldon: dict[str, Any]) -> int:
    """``seldon.threads``: the calls let into a Seldon component at once; 1 by default,
    as seldon-core's microservice runs one gunicorn thread (GUNICORN_THREADS)."""
    threads = seldon.get("threads", 1)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise SpecError(
            "seldon.threads",
            "how many calls may run in the component at once, a whole number >= 1 "
            f"(1, seldon-core's default, runs them one at a time); got {threads!r}",
        )
    return threads


def seldon_env(seldon: dict[str, Any]) -> dict[str, str]:
    """``seldon.env``: environment variables for the component's instances, as a
    SeldonDeployment's container ``env`` sets them (``PAYLOAD_PASSTHROUGH``,
    ``FLASK_JSON_SORT_KEYS``, ``INCLUDE_METRICS_IN_CLIENT_RESPONSE``, the component's
    own): an object ``{"NAME": "value"}`` or Kubernetes' list of ``{"name", "value"}``."""
    return _env_block(seldon, "seldon", '"PAYLOAD_PASSTHROUGH": "true"')


#: aiges's plugin modes (its AIGES_PLUGIN_MODE: easlab/aiges/config.py PLUGIN_MODES)
AIGES_PLUGIN_MODES = ("c", "python")


def aiges_env(aiges: Any) -> dict[str, str]:
    """``aiges.env``: environment variables for an aiges service's instances, as the
    platform sets them per deployed loader: ``AIGES_PLUGIN_MODE`` (``c``, the default, or
    ``python``), so services next to each other in one kernel each run their own loader,
    and any variable the wrapper reads. An object ``{"NAME": "value"}`` or a list of
    ``{"name", "value"}``."""
    if aiges is None:
        return {}
    if not isinstance(aiges, dict):
        raise SpecError(
            "aiges",
            'must be an object, e.g. {"env": {"AIGES_PLUGIN_MODE": "python"}}; '
            f"got {type(aiges).__name__}",
        )
    unknown = sorted(set(aiges) - {"env"})
    if unknown:
        raise SpecError(
            f"aiges.{unknown[0]}",
            'not an aiges setting: the aiges object takes "env" (its instances\' '
            "environment, e.g. AIGES_PLUGIN_MODE); aiges.toml next to wrapper.py holds the "
            "loader's own settings",
        )
    env = _env_block(aiges, "aiges", '"AIGES_PLUGIN_MODE": "python"')
    mode = env.get("AIGES_PLUGIN_MODE")
    if mode and mode not in AIGES_PLUGIN_MODES:
        raise SpecError(
            "aiges.env.AIGES_PLUGIN_MODE",
            f"{mode!r} is no aiges plugin mode: aiges runs a Python wrapper in its C++ loader "
            '("c", the default) or in the SDK\'s gRPC plugin ("python")',
        )
    return env


def own_env(raw: dict[str, Any], processor: str | None) -> dict[str, str]:
    """The environment a service's own block sets for its instances: ``seldon.env`` of a
    seldon service, ``aiges.env`` of an aiges one ({} for any other processor)."""
    code = (processor or "").strip().lower()
    if code == "seldon":
        return seldon_env(raw.get("seldon") or {})
    if code == "aiges":
        return aiges_env(raw.get("aiges"))
    return {}


def _env_block(block: dict[str, Any], prefix: str, example: str) -> dict[str, str]:
    """``<prefix>.env`` of a service's ``block``: an object or a list of {name, value}."""
    env = block.get("env")
    if env is None:
        return {}
    if isinstance(env, list):
        pairs = []
        for index, item in enumerate(env):
            if not (isinstance(item, dict) and set(item) <= {"name", "value"} and "name" in item):
                raise SpecError(
                    f"{prefix}.env[{index}]",
                    f'must be {{"name": NAME, "value": "text"}} as in a Kubernetes container; '
                    f"got {item!r}",
                )
            pairs.append((item["name"], item.get("value", "")))
    elif isinstance(env, dict):
        pairs = list(env.items())
    else:
        raise SpecError(
            f"{prefix}.env",
            f"an object of environment variables, e.g. {{{example}}}, or a "
            f"list of {{name, value}}; got {type(env).__name__}",
        )
    found: dict[str, str] = {}
    for name, value in pairs:
        field = f"{prefix}.env.{name}"
        if not isinstance(name, str) or not name or "=" in name or "\0" in name:
            raise SpecError(f"{prefix}.env", f"{name!r} is no environment variable name")
        if name.upper().startswith("EASLAB_"):
            raise SpecError(
                field, "EASLAB_* variables are the kernel's own; name the service's others"
            )
        if not isinstance(value, str):
            text = json.dumps(value)  # true, 1, ...: the text the value is meant as
            raise SpecError(
                field, f'values are text, as in Kubernetes: write "{text}" (quoted), got {text}'
            )
        found[name] = value
    return found


def _infer_processor_type(entry: str | None, mainclass: str | None) -> str:
    if mainclass:
        return "java"
    if entry:
        lowered = entry.lower()
        if lowered.endswith(".py"):
            return "python"
        if lowered.endswith((".so", ".dylib")) or ".so." in lowered:
            return "cpp"
        if lowered.endswith(".jar"):
            return "java"
    raise SpecError(
        "processor_type",
        'required for a custom processor — one of python, cpp, java, e.g. "processor_type": "python"',
    )


def _flatten_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """Accept the nested ``"rpc": {"batching": true}`` form as ``rpc.batching``."""
    flat: dict[str, Any] = {}
    for key, value in meta.items():
        if key == "rpc" and isinstance(value, dict):
            for sub, subvalue in value.items():
                flat.setdefault(f"rpc.{sub}", subvalue)
        else:
            flat[key] = value
    return flat


def typed_as_text(raw: dict[str, Any]) -> dict[str, str]:
    """The metadata fields the local parse reads as numbers or true/false that the file
    writes as text (``"instance": "2"``), by their dotted names: the local kernel reads
    them so, PAI-EAS gets the file as written."""
    meta = raw.get("metadata")
    if not isinstance(meta, dict):
        return {}
    return {
        f"metadata.{key}": value
        for key, value in _flatten_metadata(meta).items()
        if isinstance(value, str) and _METADATA_FIELDS.get(key, ("", "str"))[1] != "str"
    }


def _parse_metadata(raw: dict[str, Any], warnings: list[str], queue: bool = False) -> Metadata:
    meta = raw.get("metadata")
    if meta is None:
        raise SpecError(
            "metadata",
            'required — the resources of the service, e.g. "metadata": {"instance": 1, "cpu": 1}',
        )
    if not isinstance(meta, dict):
        got = f"{type(meta).__name__} {meta!r}" if isinstance(meta, str) else type(meta).__name__
        # YAML reads "  instance 1" (no colon) as the text 'instance 1'
        colon = (
            f" (a YAML line without its colon? write {meta.split()[0]}: {meta.split()[1]})"
            if isinstance(meta, str) and len(meta.split()) >= 2 and ":" not in meta
            else ""
        )
        raise SpecError("metadata", f'must be an object, e.g. {{"instance": 1}}, got {got}{colon}')
    flat = _flatten_metadata(meta)
    if queue:
        flat.setdefault("instance", 0)
    if flat.get("instance") is None:
        raise SpecError(
            "metadata.instance",
            'required — the number of instances, e.g. "metadata": {"instance": 1}',
        )
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in flat.items():
        spec_field = _METADATA_FIELDS.get(key)
        if spec_field is None:
            extra[key] = value
            # the kernel's queues read them (kernel/queue.py settings_of), a queue or an
            # async service's limits also flat: "metadata": {"max_length": 5}
            queued = str(flat.get("type") or "").lower() in ("queue", "async")
            if key in ("type", "name") or key.split(".")[0] == "queue":
                continue  # read: the queue kind, the service's name (service_name)
            if queued and key in QUEUE_LIMITS:
                continue
            if key in PAI_EAS_METADATA:
                warnings.append(pai_eas_note(f"metadata.{key}", PAI_EAS_METADATA[key]))
                continue
            warnings.append(f"unknown key 'metadata.{key}' kept but not used by the local kernel")
            continue
        attr, kind, minimum = spec_field
        if value is None:
            continue
        values.setdefault(attr, {})[key] = _coerce_metadata(key, value, kind, minimum)
    resolved: dict[str, Any] = {}
    for attr, by_key in values.items():
        if len(by_key) > 1 and len(set(map(str, by_key.values()))) > 1:
            warnings.append(
                "both metadata.workers and metadata.rpc.worker_threads are set: "
                f"using rpc.worker_threads={by_key['rpc.worker_threads']}"
            )
        resolved[attr] = by_key.get("rpc.worker_threads", next(iter(by_key.values())))
    return Metadata(extra=extra, **resolved)


def _coerce_metadata(key: str, value: Any, kind: str, minimum: float | None) -> Any:
    dotted = f"metadata.{key}"
    hint = f' e.g. "{key}": {_EXAMPLES[key]}' if key in _EXAMPLES else ""
    if kind == "bool":
        return _as_bool(dotted, value)
    if kind == "str":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise SpecError(dotted, f"must be a string, got {value!r}")
        return str(value)
    number: float | int
    if kind == "memory" and isinstance(value, str):
        number = _parse_memory(dotted, value)
    elif isinstance(value, bool):
        raise SpecError(dotted, f"must be a number, got {value!r} —{hint}")
    elif isinstance(value, (int, float)):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise SpecError(dotted, f"must be a number, got {value!r} —{hint}") from None
    else:
        raise SpecError(dotted, f"must be a number, got {type(value).__name__} —{hint}")
    if not math.isfinite(number):
        raise SpecError(dotted, f"must be a finite number, got {value!r} —{hint}")
    if kind in ("int", "memory"):
        if number != int(number):
            raise SpecError(dotted, f"must be a whole number, got {value!r} —{hint}")
        number = int(number)
    elif number == int(number):
        number = int(number)
    if kind == "seconds" and number <= 0:
        raise SpecError(dotted, f"must be a number of seconds > 0, got {value!r} —{hint}")
    if minimum is not None and number < minimum:
        at_least = "≥ 0" if minimum == 0 else f"≥ {minimum:g}"
        raise SpecError(dotted, f"must be {at_least}, got {value!r} —{hint}")
    return number


def _parse_memory(dotted: str, value: str) -> int:
    """Memory in MB; also accept "2000M", "4G", "4Gi" as written in some files."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([MmGg]i?[Bb]?)?\s*", value)
    if not match:
        raise SpecError(dotted, f'must be a number of MB, e.g. 2000 or "4G", got {value!r}')
    number = float(match.group(1))
    if match.group(2) and match.group(2)[0] in "Gg":
        number *= 1024
    if number != int(number):
        raise SpecError(dotted, f"must be a whole number of MB, got {value!r}")
    return int(number)


def _as_bool(dotted: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise SpecError(dotted, f"must be true or false, got {value!r}")


# ----------------------------------------------------------------------------- helpers


def processor_kind(spec: ServiceSpec | dict[str, Any]) -> str:
    """The processor family: python, cpp, java, tensorflow, pytorch, blade, onnx, pmml, caffe ...

    Built-in codes without a family keep their code (``mediaflow``, ``xnn_cpu``).
    """
    processor, processor_type = _processor_fields(spec)
    if not processor:
        return (processor_type or "").lower()
    code = processor.lower()
    for prefix, kind in (
        ("tensorflow", "tensorflow"),
        ("tf_", "tensorflow"),
        ("pytorch", "pytorch"),
        ("torch", "pytorch"),
        ("blade", "blade"),
        ("onnx", "onnx"),
        ("pmml", "pmml"),
        ("caffe", "caffe"),
        ("easy_vision", "easy_vision"),
        ("easy_nlp", "easy_nlp"),
    ):
        if code.startswith(prefix):
            return kind
    return code


def wants_gpu(spec: ServiceSpec | dict[str, Any]) -> int:
    """GPUs one instance asks for: ``metadata.gpu``, or 1 for a GPU processor code.

    GPU codes are those with ``_gpu`` or ``cuda`` in them (``pytorch_gpu_1.6``,
    ``blade_cuda10.0_beta``) and ``mediaflow`` (GPU only, SPEC §5).
    """
    if isinstance(spec, ServiceSpec):
        gpu = spec.metadata.gpu
    else:
        meta = spec.get("metadata") or {}
        try:
            gpu = int(float(meta.get("gpu") or 0))
        except (TypeError, ValueError):
            gpu = 0
    processor, _ = _processor_fields(spec)
    code = (processor or "").lower()
    gpu_code = "_gpu" in code or "cuda" in code or code == "mediaflow"
    return max(gpu, 1 if gpu_code else 0)


def _processor_fields(spec: ServiceSpec | dict[str, Any]) -> tuple[str | None, str | None]:
    if isinstance(spec, ServiceSpec):
        return spec.processor, spec.processor_type
    return spec.get("processor") or None, spec.get("processor_type") or None


def coerce_value(text: str) -> Any:
    """Coerce a ``-Dkey=value`` string: ints, floats, true/false, null, JSON objects/lists."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    if re.fullmatch(r"[+-]?\d+", stripped):
        return int(stripped)
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", stripped):
        return float(stripped)
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return text
    return text


def local_refusal(spec: ServiceSpec) -> SpecError | None:
    """Why the local kernel cannot run a service PAI-EAS would: a custom image."""
    if not spec.custom_image:
        return None
    return SpecError(
        "containers",
        "a custom image cannot run on the local kernel, which runs processors, not images "
        "(no Docker here): deploy this file to PAI-EAS as it is (`--target pai`); to try "
        'the code here, serve it as a processor: "processor_type": "python", '
        '"processor_path": "./app", "processor_entry": "app.py" (an allspark app.py), or '
        "as a Seldon or aiges component",
    )


def renamed_in_modify(named: Any, service: str) -> str:
    """The refusal of a modify whose partial spec names another service (local and PAI-EAS)."""
    return (
        f"the spec names {named!r}, not {service!r}: a service keeps its name; drop name "
        "from the file, or modify the service it names"
    )


def rename_refusal(data: dict[str, Any], service: str) -> SpecError | None:
    """The refusal of a modify whose partial spec names another service, in ``name`` or
    ``metadata.name`` (PAI-EAS's JSON deployment form); None when it names none or this."""
    meta = data.get("metadata")
    inner = meta.get("name") if isinstance(meta, dict) else None
    for where, named in (("name", data.get("name")), ("metadata.name", inner)):
        if named not in (None, service):
            return SpecError(where, renamed_in_modify(named, service))
    return None


def blue_green_without_base(name: str, services: list[str]) -> str:
    """The refusal of a ``create -r`` whose name no service has (the kernel and the dry
    run): it said only "service 'x' not found"."""
    known = ", ".join(sorted(services)) or "none"
    return (
        f"create -r makes a blue-green sibling of an existing service, and {name!r} does not "
        f"exist: create it without -r first (services: {known})"
    )


def merge_specs(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """A partial service.json (``modify -s``) laid over a whole one: objects merge key
    by key, any other value replaces what was there. Neither input is changed."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_specs(out[key], value)
        else:
            out[key] = value
    return out


def apply_overrides(spec_dict: dict[str, Any], overrides: dict[str, str]) -> dict[str, Any]:
    """Apply eascmd ``-Dkey=value`` overrides to a copy of a service description.

    ``{"metadata.instance": "10", "metadata.rpc.batching": "true"}`` sets
    ``metadata.instance = 10`` and the metadata key ``rpc.batching = True``
    (metadata keys are themselves dotted, SPEC §5); outside metadata each dot is a
    level (``cloud.computing.instance_type``). Values are coerced with ``coerce_value``.
    """
    out = copy.deepcopy(spec_dict)
    for key, text in overrides.items():
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise SpecError(key, "empty override key: write -Dmetadata.instance=2")
        value = coerce_value(text) if isinstance(text, str) else text
        head, rest = parts[0], parts[1:]
        if not rest:
            out[head] = value
            continue
        target = out.get(head)
        if target is None:
            target = out[head] = {}
        if not isinstance(target, dict):
            raise SpecError(
                key, f"cannot set {'.'.join(rest)!r} inside {head!r}: {head} is not an object"
            )
        if head != "metadata":
            # outside metadata each dot is a level: -Dcloud.computing.instance_type=... is
            # {"cloud": {"computing": {"instance_type": ...}}}, as PAI-EAS reads it (it was
            # sent as {"cloud": {"computing.instance_type": ...}})
            for depth, part in enumerate(rest[:-1]):
                inner = target.setdefault(part, {})
                if not isinstance(inner, dict):
                    where = ".".join([head, *rest[: depth + 1]])
                    raise SpecError(
                        key, f"cannot set {rest[-1]!r} inside {where!r}: it is not an object"
                    )
                target = inner
            target[rest[-1]] = value
            continue
        # descend through nested objects that exist (e.g. "rpc": {...}); the
        # rest is one dotted key, as metadata writes "rpc.batching"
        while len(rest) > 1 and isinstance(target.get(rest[0]), dict):
            target, rest = target[rest[0]], rest[1:]
        target[".".join(rest)] = value
    return out


def overridden_fields(new: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The top-level fields ``-D`` overrides touch, with their values in ``new`` (the spec
    the overrides made): what a modify changes, for ``has_model_changes``."""
    return {key.split(".", 1)[0]: new.get(key.split(".", 1)[0]) for key in overrides}


def makes_new_version(status: str, old: dict[str, Any], changes: dict[str, Any]) -> bool:
    """Whether a modify of a service in ``status`` makes a new version: it changes the
    model or processor, or the service failed (a new version is its retry). The local
    kernel decides by it, and a dry run reads the paths the new version would."""
    return status == "Failed" or has_model_changes(old, changes)


def has_model_changes(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether ``new`` changes the model or processor, i.e. makes a new version (SPEC §5).

    ``new`` may be partial (``modify -s`` with only the fields to change): a
    field it leaves out is unchanged.
    """
    return any(key in new and new[key] != old.get(key) for key in MODEL_FIELDS)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and (value or not prefix):
        flat: dict[str, Any] = {}
        for key, sub in value.items():
            flat.update(_flatten(sub, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def is_secret_name(key: Any) -> bool:
    """Whether a field or an environment variable of this name holds a secret: the
    ``SECRET_KEYS``, and names such as ``DB_PASSWORD``, ``HF_TOKEN``,
    ``OSS_ACCESS_KEY_SECRET``, ``api_key`` (not ``max_tokens``)."""
    return isinstance(key, str) and (key in SECRET_KEYS or bool(_SECRET_NAME.search(key)))


def _secret_value(value: Any) -> bool:
    # a flag (``"use_token": false``) or an object (masked within) is no secret itself
    return bool(value) and not isinstance(value, (bool, dict, list))


def masked(spec: Any) -> Any:
    """A service.json (or a part of one) to show: the values of its secrets, in objects
    and lists at any depth, are ****: the ``SECRET_KEYS``, any key that names a secret
    (``is_secret_name``: ``DB_PASSWORD`` in an env object), and the ``value`` of an env
    entry ``{"name": "HF_TOKEN", "value": ...}`` whose name does."""
    if isinstance(spec, dict):
        env_secret = is_secret_name(spec.get("name")) and "value" in spec
        return {
            k: "****"
            if (
                (k in SECRET_KEYS and v)
                or (is_secret_name(k) and _secret_value(v))
                or (env_secret and k == "value" and v)
            )
            else masked(v)
            for k, v in spec.items()
        }
    if isinstance(spec, list):
        return [masked(item) for item in spec]
    return spec


def mask_left_in(spec: Any, prefix: str = "") -> list[str]:
    """The fields of a service.json whose secret is the mask ``****`` itself (a
    ``desc --json`` pasted back as the file): ``["dockerAuth", "containers[0].env[1].value"]``."""
    found: list[str] = []
    if isinstance(spec, dict):
        env_secret = is_secret_name(spec.get("name"))
        for key, value in spec.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            secret = is_secret_name(key) or (env_secret and key == "value")
            if value == "****" and secret:
                found.append(path)
            else:
                found += mask_left_in(value, path)
    elif isinstance(spec, list):
        for i, item in enumerate(spec):
            found += mask_left_in(item, f"{prefix}[{i}]")
    return found


def masked_descs(value: Any) -> Any:
    """A service description (or a list of them, or an answer holding one) to print: the
    service.json under ``spec`` masked (``masked``); the service's own ``token`` stays, as
    ``desc`` shows it."""
    if isinstance(value, dict):
        return {
            k: masked(v) if k in ("spec", "service_json") else masked_descs(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [masked_descs(item) for item in value]
    return value


def _show(path: str, value: Any) -> str:
    if path.rsplit(".", 1)[-1] in SECRET_KEYS or (
        is_secret_name(path.rsplit(".", 1)[-1]) and _secret_value(value)
    ):
        return "****"
    return json.dumps(masked(value), ensure_ascii=False, default=str)


def diff_specs(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable differences between two service descriptions.

    ``["~ metadata.instance: 1 -> 2", "+ token: ****", "- model_config"]``;
    secrets (``SECRET_KEYS``: the token, a registry's dockerAuth, a password) are masked.
    """
    flat_old, flat_new = _flatten(old), _flatten(new)
    lines: list[str] = []
    for path in sorted(set(flat_old) | set(flat_new)):
        if path not in flat_old:
            lines.append(f"+ {path}: {_show(path, flat_new[path])}")
        elif path not in flat_new:
            lines.append(f"- {path}")
        elif flat_old[path] != flat_new[path]:
            lines.append(
                f"~ {path}: {_show(path, flat_old[path])} -> {_show(path, flat_new[path])}"
            )
    return lines


def flat_lines(spec: dict[str, Any], prefix: str = "") -> list[str]:
    """``["metadata.instance: 2", "token: ****", ...]``: a description, one field a line."""
    lines = []
    for key, value in spec.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            lines += flat_lines(value, path + ".")
        else:
            secret = key in SECRET_KEYS or (is_secret_name(key) and _secret_value(value))
            shown = "****" if secret else json.dumps(masked(value), default=str)
            lines.append(f"{path}: {shown}")
    return lines


@dataclass(repr=False)
class SpecDiff:
    """What a create or modify would change, without changing it (``dry_run=True``)."""

    name: str
    verb: str  # "would create" | "would update"
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    deployed: bool = False

    @property
    def headline(self) -> str:
        if self.deployed and not self.changes:
            return f"{self.name}: valid; no change against the deployed service"
        count = len(self.changes)
        return f"{self.name}: valid; {self.verb} ({count} change{'s' * (count != 1)})"

    def lines(self) -> list[str]:
        return [*self.changes, *(f"warning: {w}" for w in self.warnings)]

    def __str__(self) -> str:
        return "\n".join([self.headline, *self.lines()])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colours = {"+": "#1e7d32", "-": "#b3261e", "~": "#8a6d00", "w": "#8a6d00"}
        rows = "".join(
            f"<div style='color:{colours.get(line[:1], 'inherit')}'>{html.escape(line)}</div>"
            for line in self.lines()
        )
        return f"<b>{html.escape(self.headline)}</b><pre>{rows}</pre>"
