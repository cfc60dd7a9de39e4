"""What the local kernel accepts but PAI-EAS would not, and what EAS reads that the kernel ignores.

Checked before anything is sent, so a notebook developed locally learns at
``--dry-run`` (or at ``create``, which refuses the blocking ones) what has to
change for the cloud.
"""

from __future__ import annotations

import os
import re
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from easlab.spec import (
    CUSTOM_PROCESSOR_CODES,
    MASK_LEFT,
    mask_left_in,
    not_packed_yet,
    typed_as_text,
)

__all__ = [
    "Portability",
    "check_portability",
    "cpu_code_for",
    "env_problem",
    "is_gpu_code",
    "is_local_path",
    "EASLAB_ONLY_PROCESSORS",
]

#: processor codes (or processor_type values) only easlab's kernel hosts
EASLAB_ONLY_PROCESSORS = ("seldon", "aiges")
_PATH_FIELDS = ("model_path", "processor_path")
#: EAS fields that only matter on the cloud (the local kernel keeps and ignores them) and
#: that the parse does not name already: the rest (cloud, storage, containers, ...) are
#: spec.PAI_EAS_KEYS / PAI_EAS_METADATA, said in the parse's warnings
_CLOUD_ONLY = (
    ("metadata.resource", "resource group: the service runs on that dedicated group"),
    ("metadata.region", "EAS region of the service"),
)


def is_local_path(value: Any) -> bool:
    """A ``model_path``/``processor_path`` naming this machine's disk (no ``scheme://``)."""
    return isinstance(value, str) and bool(value.strip()) and "://" not in value


def local_path(value: str, base_dir: Path | None) -> Path:
    """A local ``model_path``/``processor_path`` as an absolute path: ``~`` expanded, a
    relative one from ``base_dir`` (the service.json's folder; default the current one).
    Links are not followed: a loop of them is reported (``missing_local_path``), not a crash."""
    path = Path(value).expanduser()
    return Path(os.path.abspath((base_dir or Path.cwd()) / path))


def missing_local_path(value: str, base_dir: Path | None) -> str | None:
    """Why a local path cannot be sent (it is not there, or is a link that
    leads nowhere), in words that say where easlab looked; None when it is there."""
    path = local_path(value, base_dir)
    try:
        if path.exists():
            return None
    except OSError as exc:  # a folder on the way this user may not enter
        return f"{value!r} cannot be reached ({path}: {exc.strerror})"
    if path.is_symlink():
        return (
            f"{value!r} is a symbolic link that leads nowhere ({path}: a loop of links, or "
            "its target was moved or deleted); point it at the model, or name the model itself"
        )
    looked = "" if Path(value).expanduser().is_absolute() else f" (looked for {path})"
    packed = not_packed_yet(path)
    if packed:
        return f"{value!r} does not exist on this machine{looked}: {packed[0].lower()}{packed[1:]}"
    return f"{value!r} does not exist on this machine{looked}"


def is_gpu_code(code: Any) -> bool:
    """A built-in processor code that runs only on a GPU (``pytorch_gpu_1.6``,
    ``blade_cuda10.0_beta``, ``mediaflow``): the rule of easlab.spec.wants_gpu."""
    text = str(code or "").strip().lower()
    return "_gpu" in text or "cuda" in text or text == "mediaflow"


def cpu_code_for(code: str) -> str | None:
    """The CPU build of a GPU processor code, if EAS has one (``pytorch_gpu_1.6`` →
    ``pytorch_cpu_1.6``, ``blade_cuda10.0_beta`` → ``blade_cpu``); None for ``mediaflow``."""
    text = code.strip().lower()
    if "_gpu" in text:
        return text.replace("_gpu", "_cpu", 1)
    if text.startswith("blade_cuda"):
        return "blade_cpu"
    return None


#: Alibaba Cloud machine families with GPUs (ecs.gn6i-…, ecs.vgn…, ecs.ebmgn…, ml.gu7i…)
_GPU_INSTANCE_TYPE = re.compile(r"^(ecs\.(ebm|s|v)?g[nia]\d|ml\.gu\d)", re.IGNORECASE)
#: where a base interpreter sits in any Linux image, not only on this machine
_SYSTEM_PYTHON_HOMES = ("/usr/bin", "/usr/local/bin", "/bin")


def _get(spec: dict[str, Any], dotted: str) -> Any:
    node: Any = spec
    if dotted.startswith("metadata.") and isinstance(spec.get("metadata"), dict):
        # metadata keys are themselves dotted (rpc.batching): look the rest up whole
        rest = dotted[len("metadata.") :]
        if rest in spec["metadata"]:
            return spec["metadata"][rest]
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


@dataclass
class Portability:
    """``blocking``: EAS would refuse or misrun the service as written (fix before create);
    ``warnings``: it may misrun there; ``notes``: fields EAS will act on that the local
    kernel ignored."""

    blocking: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    #: likely to misrun or waste resources on EAS, not certain to (create goes ahead)
    warnings: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        return (
            [f"error: {f}: {m}" for f, m in self.blocking]
            + [f"warning: {f}: {m}" for f, m in self.warnings]
            + [f"note: {f}: {m}" for f, m in self.notes]
        )


def check_portability(
    spec: dict[str, Any],
    *,
    oss_configured: bool,
    allow_cpu_fallback: bool = False,
    region: str | None = None,
    base_dir: Path | None = None,
    partial: bool | None = None,
) -> Portability:
    """Compare a service.json (as the local kernel accepted it) with what EAS takes.

    ``base_dir``: the folder relative local paths are relative to (the service.json's
    folder; default the current one), to look inside a local package. ``partial``: a
    ``modify -s`` update, not a whole service (default: one without ``name`` is).
    """
    report = Portability()
    if partial is None:
        partial = "name" not in spec
    for key in _PATH_FIELDS:
        missing = is_local_path(spec.get(key)) and missing_local_path(spec[key], base_dir)
        if missing:
            report.blocking.append((key, missing))
        elif is_local_path(spec.get(key)) and not oss_configured:
            report.blocking.append(
                (
                    key,
                    f"{spec[key]!r} is a path on this machine, which EAS cannot read; name an "
                    "OSS bucket for easlab to upload it to (--oss oss://bucket/prefix, "
                    "or oss= in connect) or give an oss:// / http(s) URL",
                )
            )
    _check_oss_endpoint(spec, report, oss_configured=oss_configured, region=region, partial=partial)
    if allow_cpu_fallback:
        report.blocking.append(
            (
                "allow_cpu_fallback",
                "EAS has no CPU fallback: a GPU service needs GPU resources "
                "(metadata.gpu with a GPU resource group or cloud.computing.instance_type)",
            )
        )
    for key in ("processor", "processor_type"):
        code = str(spec.get(key) or "").strip().lower()
        if code in EASLAB_ONLY_PROCESSORS and not (
            spec.get("data_image") or spec.get("containers")
        ):
            report.blocking.append(
                (
                    key,
                    f"{code!r} processors run only in easlab's kernel; on EAS package the "
                    "component as a custom image (data_image / containers) or as an allspark "
                    "python processor",
                )
            )
    for block in ("seldon", "aiges"):
        settings = spec.get(block)
        if isinstance(settings, dict) and settings.get("env"):
            # easlab's own field (a SeldonDeployment sets it per container): EAS ignores
            # the block, so an image built from the component would start without it
            report.warnings.append(
                (
                    f"{block}.env",
                    "easlab's field, which EAS does not read: set these variables for the "
                    'image in containers[].env ([{"name": ..., "value": ...}]) or in the image',
                )
            )
    code = str(spec.get("processor") or "").strip().lower()
    if code in CUSTOM_PROCESSOR_CODES:
        report.blocking.append(
            (
                "processor",
                f'"processor": "{code}" is easlab\'s name for a custom processor, and no EAS '
                f'code: EAS reads "processor_type": "{code}" (with processor_path and '
                "processor_entry); write that and leave out processor",
            )
        )
    wanted = str((spec.get("metadata") or {}).get("region") or "")
    if region and wanted and wanted != region:
        report.blocking.append(
            ("metadata.region", f"the service says {wanted!r}, the target is {region!r}")
        )
    for dotted in mask_left_in(spec):
        report.blocking.append((dotted, MASK_LEFT))
    _check_written_for_easlab(spec, report)
    _check_storage(spec, report)
    _check_gpu_fit(spec, report)
    _check_package_env(spec, report, base_dir)
    _check_package_entry(spec, report, base_dir)
    _check_credential_files(spec, report, base_dir)
    for dotted, what in _CLOUD_ONLY:
        if _get(spec, dotted) not in (None, "", [], {}):
            report.notes.append((dotted, f"{what}; the local kernel ignored it, EAS will use it"))
    return report


def _check_oss_endpoint(
    spec: dict[str, Any],
    report: Portability,
    *,
    oss_configured: bool,
    region: str | None,
    partial: bool,
) -> None:
    """An ``oss://`` path without ``oss_endpoint`` is read through the service's own
    region's internal OSS endpoint: a bucket in another region needs one. The 2021 EAS
    manual required it (如果model_path使用OSS地址，则必须指定该参数); Alibaba Cloud's
    current "Parameters of model services" page (en and zh) says EAS then uses the current
    region's endpoint, and that it is needed to read another region's OSS. So a warning,
    not a refusal: EAS takes the file.

    Not filled in by guessing: easlab cannot tell which region a bucket it did not
    upload to lives in, and a wrong endpoint turns a working create into a service
    that fails while loading. Only when easlab uploads (into the target region's
    bucket) does it set the region's internal endpoint, as plan_uploads does.
    """
    if spec.get("oss_endpoint"):
        return
    on_oss = [
        key
        for key in _PATH_FIELDS
        if isinstance(spec.get(key), str) and str(spec[key]).strip().startswith("oss://")
    ]
    if not on_oss:
        return
    endpoint = f"oss-{region or '<region>'}-internal.aliyuncs.com"
    key = on_oss[0]
    uploading = oss_configured and any(is_local_path(spec.get(k)) for k in _PATH_FIELDS)
    if uploading:
        report.notes.append(
            (
                "oss_endpoint",
                f"set to {endpoint} for the uploads; {key} {spec[key]!r} is read through it "
                "too, so its bucket must be in that region (else give oss_endpoint)",
            )
        )
    elif partial:
        report.notes.append(
            (
                "oss_endpoint",
                f"{key} is on OSS and the update gives no oss_endpoint: EAS keeps the "
                "service's own; add one if the bucket is in another region",
            )
        )
    else:
        report.warnings.append(
            (
                "oss_endpoint",
                f"not given, so EAS reads {key} {spec[key]!r} through its own region's "
                f"endpoint ({endpoint}): a bucket in another region fails to load; then add "
                '"oss_endpoint": "oss-<the bucket\'s region>-internal.aliyuncs.com"',
            )
        )


#: memory written with a unit ("4G", "2000M"): the local parse reads it (spec._parse_memory)
_MEMORY_WITH_UNIT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([MmGg]i?[Bb]?)\s*")


def _check_written_for_easlab(spec: dict[str, Any], report: Portability) -> None:
    """What the local parse reads but PAI-EAS, which gets the file as written, may not:
    ``metadata.memory`` with a unit (EAS reads a whole number of MB: refused), a number
    or true/false written as text (warned)."""
    meta = spec.get("metadata")
    memory = meta.get("memory") if isinstance(meta, dict) else None
    found = _MEMORY_WITH_UNIT.fullmatch(memory) if isinstance(memory, str) else None
    if found:
        number = float(found.group(1)) * (1024 if found.group(2)[0] in "Gg" else 1)
        report.blocking.append(
            (
                "metadata.memory",
                f"{memory!r} has a unit, which the local kernel reads and PAI-EAS does not: "
                f'EAS takes a whole number of MB, e.g. "memory": {number:g}',
            )
        )
    for field_, text in typed_as_text(spec).items():
        if field_ == "metadata.memory" and found:
            continue
        bare = text.strip().lower() if text.strip().lower() in ("true", "false") else text.strip()
        report.warnings.append(
            (
                field_,
                f"written as text ({text!r}): the local kernel reads it as a value, PAI-EAS "
                f"gets the text, and its pages write a value here: write {bare} without "
                "quotes",
            )
        )


def _check_storage(spec: dict[str, Any], report: Portability) -> None:
    """Each ``storage`` mount as EAS takes it (its "Mount storage" page): an object with
    the ``mount_path`` in the instance, an ``oss.path`` that is an ``oss://`` URL. A local
    folder is not uploaded for a mount (only model_path and processor_path are)."""
    storage = spec.get("storage")
    if storage is None:
        return
    if not isinstance(storage, list):
        report.blocking.append(
            (
                "storage",
                f"a list of mounts, got {type(storage).__name__}: "
                '[{"oss": {"path": "oss://bucket/path/"}, "mount_path": "/mnt/data"}]',
            )
        )
        return
    for index, item in enumerate(storage):
        where = f"storage[{index}]"
        if not isinstance(item, dict):
            report.blocking.append(
                (
                    where,
                    'a mount is an object, e.g. {"oss": {"path": "oss://bucket/path/"}, '
                    f'"mount_path": "/mnt/data"}}; got {item!r}',
                )
            )
            continue
        mount = item.get("mount_path")
        if not isinstance(mount, str) or not mount.startswith("/"):
            report.blocking.append(
                (
                    f"{where}.mount_path",
                    f"where the mount appears in the instance, an absolute path such as "
                    f'"/mnt/data"; got {mount!r}',
                )
            )
        oss = item.get("oss")
        path = oss.get("path") if isinstance(oss, dict) else None
        if isinstance(oss, dict) and not (isinstance(path, str) and path.startswith("oss://")):
            upload = (
                " (a folder on this machine is not uploaded for a mount: `easlab upload FOLDER "
                "--target pai --oss oss://BUCKET/PREFIX` prints the oss:// path to write)"
                if is_local_path(path)
                else ""
            )
            report.blocking.append(
                (
                    f"{where}.oss.path",
                    f"the OSS folder to mount, an oss://bucket/path/ URL; got {path!r}{upload}",
                )
            )


def _instance_types(spec: dict[str, Any]) -> list[str]:
    computing = _get(spec, "cloud.computing") or {}
    if not isinstance(computing, dict):
        return []
    found = [computing.get("instance_type")]
    for item in computing.get("instances") or []:
        found.append(item.get("type") if isinstance(item, dict) else item)
    return [str(t) for t in found if t]


def _check_gpu_fit(spec: dict[str, Any], report: Portability) -> None:
    """SPEC §5: a GPU processor on a CPU-only resource is a deployment error; GPUs asked
    for by a CPU processor code only cost money."""
    code = str(spec.get("processor") or "").strip()
    meta: dict[str, Any] = spec.get("metadata") or {}
    if not isinstance(meta, dict):
        meta = {}
    try:
        gpus = int(float(meta.get("gpu") or 0))
    except (TypeError, ValueError):
        gpus = 0
    types = _instance_types(spec)
    gpu_types = [t for t in types if _GPU_INSTANCE_TYPE.match(t)]
    if is_gpu_code(code) and gpus <= 0:
        cpu = cpu_code_for(code)
        instead = f", or use the CPU code {cpu!r}" if cpu else ""
        if not types:
            report.blocking.append(
                (
                    "processor",
                    f"{code!r} runs only on a GPU, and the service asks for none "
                    f"(metadata.gpu is {meta.get('gpu', 'not set')}): set metadata.gpu (with a "
                    "GPU resource group in metadata.resource) or a GPU "
                    f"cloud.computing.instance_type (ecs.gn6i-c4g1.xlarge …){instead}",
                )
            )
        elif not gpu_types:
            report.blocking.append(
                (
                    "processor",
                    f"{code!r} runs only on a GPU, and cloud.computing {', '.join(types)} "
                    "has none (not a GPU family: ecs.gn*, ecs.vgn*, ml.gu*): choose a GPU "
                    f"machine type or set metadata.gpu{instead}",
                )
            )
    elif gpus > 0 and types and not gpu_types:
        report.warnings.append(
            (
                "metadata.gpu",
                f"{gpus} GPU(s) per instance, on cloud.computing {', '.join(types)}, which "
                "is not a GPU family (ecs.gn*, ecs.vgn*, ml.gu*): EAS would find no GPU there",
            )
        )
    if code and "_cpu" in code.lower() and (gpus > 0 or gpu_types):
        asked = f"metadata.gpu {gpus}" if gpus > 0 else f"GPU machine {gpu_types[0]}"
        report.warnings.append(
            (
                "processor",
                f"{code!r} runs on the CPU: the {asked} would stay idle. Use the GPU code "
                f"({code.lower().replace('_cpu', '_gpu', 1)}) or drop the GPU",
            )
        )


def env_problem(pyvenv_cfg: str, *, data_image: bool = False) -> tuple[bool, str]:
    """(blocking, message) for a package whose ``ENV`` is a virtualenv (has ``pyvenv.cfg``).

    A venv is not self-contained: ``ENV/bin/python`` starts only where its base
    interpreter (``home`` in pyvenv.cfg) sits at the same path, with its libpython,
    which an EAS instance does not have. ``data_image`` may provide it (blocking False).
    """
    home = ""
    for line in pyvenv_cfg.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "home":
            home = value.strip()
    where = f"home = {home}" if home else "no home line"
    system = home.rstrip("/") in _SYSTEM_PYTHON_HOMES
    blocking = not (system or data_image)
    tail = (
        "it runs only if data_image provides that interpreter at the same path"
        if data_image
        else (
            "it runs only if the processor image has the same Python at that path"
            if system
            else "that path exists on this machine only, so ENV/bin/python cannot start on EAS"
        )
    )
    return blocking, (
        f"the package's ENV is a virtualenv (ENV/pyvenv.cfg, {where}), not a self-contained "
        f"environment: {tail}. Build ENV relocatable (conda create -p ENV, or conda-pack, "
        "as the EAS manual does; or inside the EAS python image "
        "registry.cn-shanghai.aliyuncs.com/eas/eas-python-base-image), or put the "
        "environment in a data_image and package only the code"
    )


def _read_pyvenv_cfg(path: Path) -> str | None:
    """``ENV/pyvenv.cfg`` of a package folder or archive (.tar[.gz|.bz2], .zip), if any."""
    wanted = "ENV/pyvenv.cfg"
    try:
        if path.is_dir():
            cfg = path / wanted
            return cfg.read_text(errors="replace") if cfg.is_file() else None
        if not path.is_file():
            return None
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    if name.removeprefix("./") == wanted:
                        return archive.read(name).decode(errors="replace")
            return None
        if tarfile.is_tarfile(path):
            # a stream: the archive may be large, and one pass finds the member
            with tarfile.open(path, mode="r|*") as tar:
                for member in tar:
                    if member.name.removeprefix("./") == wanted and member.isfile():
                        body = tar.extractfile(member)
                        return body.read().decode(errors="replace") if body else ""
    except (OSError, tarfile.TarError, zipfile.BadZipFile):
        return None
    return None


def package_env_problem(path: Path) -> str | None:
    """Why a local package folder or archive's ``ENV`` would not start on PAI-EAS (a
    virtualenv tied to this machine's Python), or None: ``easlab upload`` says it before
    sending, as ``pysdk pack`` does after packing and ``create --target pai`` refuses."""
    cfg = _read_pyvenv_cfg(path)
    return None if cfg is None else env_problem(cfg)[1]


def _check_package_env(spec: dict[str, Any], report: Portability, base_dir: Path | None) -> None:
    value = spec.get("processor_path")
    if not is_local_path(value):
        return
    cfg = _read_pyvenv_cfg(local_path(str(value), base_dir))
    if cfg is None:
        return
    blocking, message = env_problem(cfg, data_image=bool(spec.get("data_image")))
    (report.blocking if blocking else report.warnings).append(("processor_path", message))


def _package_files(path: Path, wanted: str) -> list[str] | None:
    """The files of a local package archive (.tar[.gz|.bz2], .zip), relative to its root
    (``./`` dropped); of a folder (its ENV/ may hold thousands), ``wanted`` if there, and
    else its root's entries and ``wanted`` under a single folder at its root. None when
    it is neither or cannot be read."""
    try:
        if path.is_dir():
            if (path / wanted).is_file():
                return [wanted]
            roots = [p.name + ("/" if p.is_dir() else "") for p in path.iterdir()]
            if len(roots) == 1 and roots[0].endswith("/") and (path / roots[0] / wanted).is_file():
                return [roots[0] + wanted]
            return [r + "..." if r.endswith("/") else r for r in roots]
        if not path.is_file():
            return None
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return [n.removeprefix("./") for n in archive.namelist() if not n.endswith("/")]
        if tarfile.is_tarfile(path):
            with tarfile.open(path, mode="r|*") as tar:
                return [m.name.removeprefix("./") for m in tar if m.isfile()]
    except (OSError, tarfile.TarError, zipfile.BadZipFile):
        return None
    return None


def _check_package_entry(spec: dict[str, Any], report: Portability, base_dir: Path | None) -> None:
    """A custom processor's ``processor_entry`` that is not in its local package: the
    local kernel refuses it when the service starts; EAS would take the upload and the
    create, and the service fail minutes later. Said before anything is uploaded."""
    value, entry = spec.get("processor_path"), spec.get("processor_entry")
    if not is_local_path(value) or not isinstance(entry, str) or not entry.strip():
        return
    wanted = entry.strip().removeprefix("./")
    files = _package_files(local_path(str(value), base_dir), wanted)
    if files is None:
        return
    if wanted in files:
        return
    roots = sorted({f.split("/", 1)[0] + ("/" if "/" in f else "") for f in files})
    inside = [f for f in files if f.endswith("/" + wanted)]
    if len(roots) == 1 and roots[0].endswith("/") and inside:
        todo = (
            f"it is at {inside[0]}, inside the one folder {roots[0]} of the package: EAS "
            "reads the code at the package's root; pack it from inside that folder "
            f"(`easlab pysdk pack {roots[0].rstrip('/')}`) or point processor_path at it"
        )
    else:
        shown = ", ".join(roots[:8]) + (", ..." if len(roots) > 8 else "") if roots else "nothing"
        todo = (
            f"the package holds {shown}; set processor_entry to the entry file's path "
            'inside processor_path (e.g. "./app.py")'
        )
    report.blocking.append(
        (
            "processor_entry",
            f"{entry!r} is not in processor_path {value!r} (the service would fail on EAS "
            f"after the upload and create): {todo}",
        )
    )


#: files that hold Alibaba Cloud keys (or any secrets) by their usual names: the aliyun
#: CLI's profile, the SDK's credentials file, ossutil's config, a dotenv file
_CREDENTIAL_FILES = (
    ".aliyun/config.json",
    ".alibabacloud/credentials",
    ".alibabacloud/credentials.ini",
    ".ossutilconfig",
    ".env",
)
#: how many entries of a folder are looked at for them (a model folder may hold many)
_LOOK_AT = 20_000


def _check_credential_files(
    spec: dict[str, Any], report: Portability, base_dir: Path | None
) -> None:
    """A local folder to upload that holds a file of credentials (a ``.env``, a copy of
    ``~/.aliyun``): it would be packed, put on OSS and unpacked on every instance."""
    for key in _PATH_FIELDS:
        value = spec.get(key)
        if not is_local_path(value):
            continue
        folder = local_path(str(value), base_dir)
        if not folder.is_dir():
            continue
        found = []
        for seen, file in enumerate(folder.rglob("*")):
            if seen >= _LOOK_AT:
                break
            rel = file.relative_to(folder).as_posix()
            if any(rel == name or rel.endswith("/" + name) for name in _CREDENTIAL_FILES):
                found.append(rel)
        if found:
            report.warnings.append(
                (
                    key,
                    f"{', '.join(found[:5])} in {folder} looks like a file of credentials: "
                    "it would be uploaded to OSS with the folder and reach every instance on "
                    "EAS; move it out of the folder (EAS services get keys from a RAM role)",
                )
            )
