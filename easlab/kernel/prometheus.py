"""``GET /metrics``: the monitor in Prometheus's text format, written by prometheus_client.

A collector reads the services' ``Stats`` when scraped (nothing is kept in
prometheus_client's own metric objects, so the hot path never touches it).
Answers pass the control plane's lock first (routes.py): a scrape config sends
the admin token with ``authorization: {credentials: <token>}``.

A processor's custom metrics (a Seldon component's ``metrics()``: SPEC §6) follow the
kernel's own, under the names the component gave them (seldon-core's: a COUNTER
``<key>_total``, a TIMER a histogram), labelled with their tags, ``service`` and
``instance``. Each instance sends them when they change (frames.METRICS); they are
read here only when scraped. A name of the kernel's own (``easlab_*``) is left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from easlab.kernel.monitor import WINDOWS

if TYPE_CHECKING:
    from easlab.kernel.control import Kernel

__all__ = ["CONTENT_TYPE_LATEST", "exposition"]


class _KernelCollector(Collector):
    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def collect(self) -> Iterator[Metric]:
        kernel = self.kernel
        kernel.fold_all()
        requests = CounterMetricFamily(
            "easlab_requests",
            "Answers by service, version, instance and HTTP status",
            labels=["service", "version", "instance", "code"],
        )
        latency = HistogramMetricFamily(
            "easlab_request_latency_seconds",
            "Arrival-to-answer time of requests, by service",
            labels=["service"],
        )
        quantiles = GaugeMetricFamily(
            "easlab_request_latency_quantile_seconds",
            "Latency percentiles over sliding windows",
            labels=["service", "window", "quantile"],
        )
        qps = GaugeMetricFamily(
            "easlab_requests_per_second",
            "Answers per second over sliding windows",
            labels=["service", "window"],
        )
        queue = GaugeMetricFamily(
            "easlab_queue_depth", "Calls waiting for an instance", labels=["service"]
        )
        batches = CounterMetricFamily(
            "easlab_batches", "Batches sent to instances", labels=["service"]
        )
        batched = CounterMetricFamily(
            "easlab_batched_requests", "Requests sent in batches", labels=["service"]
        )
        instances = GaugeMetricFamily(
            "easlab_instances", "Instances by state", labels=["service", "state"]
        )
        cpu = GaugeMetricFamily(
            "easlab_instance_cpu_percent",
            "CPU use of an instance process",
            labels=["service", "instance"],
        )
        rss = GaugeMetricFamily(
            "easlab_instance_memory_bytes",
            "Resident memory of an instance process",
            labels=["service", "instance"],
        )
        gpu_util = GaugeMetricFamily(
            "easlab_instance_gpu_utilization_percent",
            "Utilisation of an instance's GPUs (NVML)",
            labels=["service", "instance"],
        )
        gpu_mem = GaugeMetricFamily(
            "easlab_instance_gpu_memory_bytes",
            "GPU memory held by an instance process (NVML)",
            labels=["service", "instance"],
        )
        for name, service in kernel.services.items():
            stats = service.stats
            if not stats.enabled:
                # EASLAB_MONITOR=0 keeps only the totals: the answers by status, and none
                # of what the per-second buckets give (by instance, latencies, windows),
                # rather than a count of 0 beside a latency sum of every request
                for code, count in sorted(stats.by_status.items()):
                    requests.add_metric([name, "", "", str(code)], count)
            for (index, code), count in sorted(stats.cumulative.items()):
                version = stats.instance_version.get(index)
                requests.add_metric(
                    [
                        name,
                        "" if version is None else str(version),
                        stats.instance_name.get(index, ""),
                        str(code),
                    ],
                    count,
                )
            buckets = stats.latency_buckets()
            total = int(stats.cumulative_hist.sum())
            if stats.enabled:
                latency.add_metric(
                    [name],
                    [(repr(edge), count) for edge, count in buckets] + [("+Inf", total)],
                    sum_value=stats.latency_s,
                )
            for w in WINDOWS if stats.enabled else ():
                summary = stats.window(w)
                qps.add_metric([name, f"{w}s"], summary["qps"])
                for q in ("50", "90", "99"):
                    value = summary[f"p{q}_ms"]
                    if value is not None:
                        quantiles.add_metric([name, f"{w}s", f"0.{q}"], value / 1000)
            queue.add_metric([name], service.queue_depth())
            batches.add_metric([name], stats.batches)
            batched.add_metric([name], stats.batched)
            ready = sum(1 for inst in service.instances if inst.ready)
            instances.add_metric([name, "ready"], ready)
            instances.add_metric([name, "starting"], len(service.starting))
            latest = stats.buckets[-1].resources if stats.buckets else {}
            for inst in service.instances:
                res = latest.get(inst.index) or {}
                for family, key in (
                    (cpu, "cpu_percent"),
                    (rss, "rss_bytes"),
                    (gpu_util, "gpu_util"),
                    (gpu_mem, "gpu_memory_bytes"),
                ):
                    value = res.get(key)
                    if value is not None:
                        family.add_metric([name, inst.name], value)
        yield from (
            requests,
            latency,
            quantiles,
            qps,
            queue,
            batches,
            batched,
            instances,
            cpu,
            rss,
            gpu_util,
            gpu_mem,
        )
        yield from _custom(kernel)


def _custom(kernel: Kernel) -> Iterator[Metric]:
    """The instances' custom metrics, one family per name and type."""
    found: dict[tuple[str, str], list[tuple[dict[str, str], dict[str, Any]]]] = {}
    for name, service in kernel.services.items():
        for inst in service.instances:
            raw = inst.custom_metrics
            if not raw:
                continue
            for item in json.loads(raw):
                if str(item["name"]).startswith("easlab_"):
                    continue
                labels = {**item["labels"], "service": name, "instance": inst.name}
                found.setdefault((item["type"], item["name"]), []).append((labels, item))
    if not found:
        return
    from easlab.seldon.metrics import family

    for (kind, metric), samples in found.items():
        yield family(kind, metric, samples)


def exposition(kernel: Kernel) -> bytes:
    """The kernel's metrics as Prometheus text (version 0.0.4)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_KernelCollector(kernel))
    return generate_latest(registry)
