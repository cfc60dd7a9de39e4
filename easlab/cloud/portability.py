"""What the local kernel accepts but PAI-EAS would not, and what EAS reads that the kernel ignores.

Checked before anything is sent, so a notebook developed locally learns at
``--dry-run`` (or at ``create``, which refuses the blocking ones) what has to
change for the cloud.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Portability", "check_portability", "is_local_path", "EASLAB_ONLY_PROCESSORS"]

#: processor codes (or processor_type values) only easlab's kernel hosts
EASLAB_ONLY_PROCESSORS = ("seldon", "aiges")
_PATH_FIELDS = ("model_path", "processor_path")
#: EAS fields that only matter on the cloud (the local kernel keeps and ignores them)
_CLOUD_ONLY = (
    ("metadata.resource", "resource group: the service runs on that dedicated group"),
    ("metadata.region", "EAS region of the service"),
    ("metadata.quota_id", "quota the service draws on"),
    ("cloud.computing.instance_type", "machine type each instance runs on"),
    ("cloud.computing.instances", "machine types each instance may run on"),
    ("cloud.networking.vpc_id", "VPC the instances join"),
    ("cloud.networking.vswitch_id", "vSwitch of the instances' network card"),
    ("cloud.networking.security_group_id", "security group of the instances"),
    ("containers", "custom images"),
    ("storage", "mounted storage"),
)


def is_local_path(value: Any) -> bool:
    """A ``model_path``/``processor_path`` naming this machine's disk (no ``scheme://``)."""
    return isinstance(value, str) and bool(value.strip()) and "://" not in value


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
    ``notes``: fields EAS will act on that the local kernel ignored."""

    blocking: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"error: {f}: {m}" for f, m in self.blocking] + [
            f"note: {f}: {m}" for f, m in self.notes
        ]


def check_portability(
    spec: dict[str, Any],
    *,
    oss_configured: bool,
    allow_cpu_fallback: bool = False,
    region: str | None = None,
) -> Portability:
    """Compare a service.json (as the local kernel accepted it) with what EAS takes."""
    report = Portability()
    for key in _PATH_FIELDS:
        if is_local_path(spec.get(key)) and not oss_configured:
            report.blocking.append(
                (
                    key,
                    f"{spec[key]!r} is a path on this machine, which EAS cannot read; name an "
                    "OSS bucket for easlab to upload it to (--oss oss://bucket/prefix, "
                    "or oss= in connect) or give an oss:// / http(s) URL",
                )
            )
    for key in _PATH_FIELDS:
        value = spec.get(key)
        if isinstance(value, str) and value.startswith("oss://") and not spec.get("oss_endpoint"):
            report.notes.append(
                (
                    "oss_endpoint",
                    f"{key} is on OSS and no oss_endpoint is given; EAS needs it "
                    f"(e.g. oss-{region or '<region>'}-internal.aliyuncs.com)",
                )
            )
            break
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
    wanted = str((spec.get("metadata") or {}).get("region") or "")
    if region and wanted and wanted != region:
        report.blocking.append(
            ("metadata.region", f"the service says {wanted!r}, the target is {region!r}")
        )
    for dotted, what in _CLOUD_ONLY:
        if _get(spec, dotted) not in (None, "", [], {}):
            report.notes.append((dotted, f"{what}; the local kernel ignored it, EAS will use it"))
    return report
