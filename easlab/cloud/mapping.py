"""EAS's answers in easlab's shapes: ``Service`` → ``ServiceDesc``, ``Instance`` → a worker row.

The field names on the left are the OpenAPI's (``alibabacloud_eas20210701.models``
``Service``, ``Instance``); the shapes on the right are the local kernel's
(ARCHITECTURE.md "Control API"), so ``desc``, ``ls``, ``w`` render the same tables.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

__all__ = ["service_desc", "worker_row", "REQUEST_FORMATS"]

#: processor code prefix → the request format the client builds (None: no signature)
REQUEST_FORMATS = (
    ("tensorflow", "tf"),
    ("pytorch", "torch"),
    ("blade", "blade"),
    ("onnx", "onnx"),
)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _spec(config: Any) -> dict[str, Any]:
    if isinstance(config, dict):
        return config
    if isinstance(config, str) and config.strip():
        try:
            data = json.loads(config)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    return {}


def _request_format(processor: str | None) -> str | None:
    for prefix, fmt in REQUEST_FORMATS:
        if processor and processor.startswith(prefix):
            return fmt
    return None


def _base_url(endpoint: str, name: str) -> str:
    """``http://x.pai-eas.aliyuncs.com/api/predict/mnist`` → ``http://x.pai-eas.aliyuncs.com``."""
    parts = urlsplit(endpoint if "://" in endpoint else "http://" + endpoint)
    path = parts.path.rstrip("/")
    suffix = f"/api/predict/{name}"
    if path.endswith(suffix):
        path = path[: -len(suffix)]
    return f"{parts.scheme}://{parts.netloc}{path}"


def service_desc(service: dict[str, Any], *, vpc: bool = False) -> dict[str, Any]:
    """One EAS ``Service`` (DescribeService / ListServices) as a ``ServiceDesc`` dict.

    ``endpoint``/``url`` are the public (``InternetEndpoint``) ones, or the VPC
    (``IntranetEndpoint``) ones with ``vpc``; both are kept in ``endpoints``.
    """
    name = str(service.get("ServiceName") or "")
    spec = _spec(service.get("ServiceConfig"))
    public = str(service.get("InternetEndpoint") or "")
    private = str(service.get("IntranetEndpoint") or "")
    url = (private or public) if vpc else (public or private)
    processor = spec.get("processor") or (
        f"custom ({spec.get('processor_type')})" if spec.get("processor_type") else None
    )
    containers = spec.get("containers")
    if not processor and isinstance(containers, list) and containers:
        # EAS's image deployment: what runs is the first container's image (was: blank)
        first = containers[0] if isinstance(containers[0], dict) else {}
        processor = f"image {first.get('image') or '(none given)'}"
    message = str(service.get("Message") or "")
    reason = str(service.get("Reason") or "")
    if reason and reason not in message:
        message = f"{reason}: {message}" if message else reason
    weight = service.get("Weight")
    memory = service.get("Memory")
    return {
        "name": name,
        "status": str(service.get("Status") or ""),
        "message": message,
        "endpoint": _base_url(url, name) if url else "",
        "service_path": f"/api/predict/{name}",
        "url": url,
        "endpoints": {"internet": public, "intranet": private},
        "token": service.get("AccessToken") or None,
        "processor": processor,
        "request_format": _request_format(spec.get("processor")),
        "total_instance": _int(service.get("TotalInstance")),
        "running_instance": _int(service.get("RunningInstance")),
        "pending_instance": _int(service.get("PendingInstance")),
        "cpu": service.get("Cpu"),
        "gpu": _int(service.get("Gpu")),
        "memory": memory,
        "latest_version": service.get("LatestVersion"),
        "current_version": service.get("CurrentVersion"),
        "weight": _int(weight, 100) if weight not in (None, "") else 100,
        "traffic": None,
        "traffic_state": service.get("TrafficState"),
        "cpu_fallback": False,
        "create_time": service.get("CreateTime"),
        "update_time": service.get("UpdateTime"),
        "signature": None,
        "warnings": [],
        "spec": spec,
        "region": service.get("Region"),
        "resource": service.get("Resource") or None,
        "service_id": service.get("ServiceId"),
        "target": "pai",
    }


def worker_row(instance: dict[str, Any]) -> dict[str, Any]:
    """One EAS ``Instance`` (ListServiceInstances) as the local kernel's worker row."""
    ready, total = instance.get("ReadyProcesses"), instance.get("TotalProcesses")
    return {
        "name": instance.get("InstanceName") or "",
        "ip": instance.get("InnerIP") or instance.get("HostIP") or "",
        "port": instance.get("InstancePort"),
        "pid": "",
        "start_time": instance.get("StartAt") or instance.get("StartTime") or "",
        "restarts": _int(instance.get("RestartCount")),
        "status": instance.get("Status") or "",
        "ready": f"{ready}/{total}" if total is not None else "",
        "reason": instance.get("Reason") or "",
        "gpus": [],
        "zone": instance.get("Zone"),
        "host_ip": instance.get("HostIP"),
    }
