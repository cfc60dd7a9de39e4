"""``PaiClient``: the local ``KernelClient``'s verbs against a PAI-EAS region.

Every method calls the official SDK (``alibabacloud_eas20210701``, the EAS
OpenAPI 2021-07-01, ROA style) and answers in the local kernel's shapes
(``ServiceDesc`` dicts, worker rows, ``Service`` handles; easlab/cloud/mapping.py),
so ``easlab.ops``, the CLI and the magics need no branch for the cloud:

>>> pai = easlab.connect(target="pai", region="cn-hangzhou", oss="oss://my-bucket/easlab")  # doctest: +SKIP
>>> svc = easlab.create("service.json", kernel=pai)          # doctest: +SKIP
>>> print(easlab.create("service.json", dry_run=True, kernel=pai))  # doctest: +SKIP

EAS action per verb: create → CreateService; ls → ListServices; desc →
DescribeService; w → ListServiceInstances; modify → UpdateService; version →
UpdateServiceVersion; stop/start/delete → StopService/StartService/DeleteService;
release → ReleaseService; logs → DescribeServiceLog.
"""

from __future__ import annotations

import builtins
import copy
import json
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from easlab.cloud.endpoint import is_loopback, resolve_endpoint
from easlab.cloud.errors import PaiError, PaiSetupError, hint_for
from easlab.cloud.mapping import service_desc, worker_row
from easlab.cloud.portability import Portability, check_portability, local_path
from easlab.spec import SpecDiff, masked

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from easlab.client.control import Service
    from easlab.cloud.upload import Upload, UploadProgress
    from easlab.spec import ServiceSpec

__all__ = [
    "PaiClient",
    "CloudPlan",
    "RegionFound",
    "connect_pai",
    "default_region",
    "resolve_endpoint",
    "ENDPOINT_ENV",
]

ENDPOINT_ENV = "EASLAB_PAI_ENDPOINT"
REGION_ENV = "EASLAB_PAI_REGION"
OSS_ENV = "EASLAB_OSS"
OSS_ENDPOINT_ENV = "EASLAB_OSS_ENDPOINT"
TIMEOUT_ENV = "EASLAB_PAI_TIMEOUT"
#: seconds an API call waits for its answer unless told (``--pai-timeout``, ``$EASLAB_PAI_TIMEOUT``)
DEFAULT_TIMEOUT = 60.0
#: what PaiClient.version() reports (the OpenAPI version the SDK speaks)
API_VERSION = "2021-07-01"
#: ``PaiClient.poll_interval``: DescribeService after 1 s, then 1.5 times longer each, at most 10 s
POLL_INTERVAL = (1.0, 1.5, 10.0)
#: the actions that change nothing, so a passing trouble may be met by asking again; a
#: CreateService or UpdateService that may have been done is never sent twice
READS = frozenset({"DescribeService", "ListServices", "ListServiceInstances", "DescribeServiceLog"})
#: ``PaiClient.retry_delays``: three more tries of a read, after 1, 2 and 4 s
RETRY_DELAYS = (1.0, 2.0, 4.0)
#: ``PaiClient.created_visible_s``: how long ``create`` asks DescribeService (backing off
#: as ``POLL_INTERVAL``) for the service CreateService just made before it says it never
#: appeared: EAS can answer "not found" for it for a moment after the create
CREATED_VISIBLE_S = 60.0
#: regions with PAI-EAS (its endpoint list), named when a region's API host does not resolve
PAI_EAS_REGIONS = (
    "cn-hangzhou",
    "cn-shanghai",
    "cn-beijing",
    "cn-shenzhen",
    "cn-zhangjiakou",
    "cn-wulanchabu",
    "cn-chengdu",
    "cn-hongkong",
    "ap-southeast-1",
    "ap-southeast-3",
    "ap-southeast-5",
    "ap-northeast-1",
    "ap-south-1",
    "us-west-1",
    "us-east-1",
    "eu-central-1",
    "me-east-1",
)


@dataclass(repr=False)
class CloudPlan(SpecDiff):
    """``create --dry-run`` against PAI-EAS: the exact service.json to send (and its diff
    against the local one), the uploads, and what EAS would refuse. Nothing was sent."""

    target: str = ""
    service_json: dict[str, Any] = field(default_factory=dict)
    uploads: list[str] = field(default_factory=list)
    portability: list[str] = field(default_factory=list)
    action: str = "CreateService"
    #: where the region came from when no region was given ("$EASLAB_PAI_REGION", ...)
    region_source: str = ""

    @property
    def headline(self) -> str:
        blocked = any(line.startswith("error:") for line in self.portability)
        verdict = "EAS would refuse it as written" if blocked else "nothing sent"
        return f"{self.name}: {self.action} on {self.target} ({verdict})"

    def lines(self) -> list[str]:
        out = [f"region from {self.region_source}"] if self.region_source else []
        out += self.portability
        out += [f"upload: {u}" for u in self.uploads] or ["upload: none"]
        out += ["diff against the local service.json:", *self.changes]
        out += ["service.json to send:"]
        out += json.dumps(self.service_json, indent=2, ensure_ascii=False).splitlines()
        out += [f"warning: {w}" for w in self.warnings]
        return out


class PaiClient:
    """The verbs of ``KernelClient`` against PAI-EAS in ``region``.

    ``endpoint``: the API's host[:port] (default: the region's public
    ``pai-eas.<region>.aliyuncs.com``; ``$EASLAB_PAI_ENDPOINT``). ``oss``:
    ``oss://bucket/prefix`` where local model/processor paths are uploaded
    (``$EASLAB_OSS``); ``oss_endpoint`` the OSS host easlab uploads to
    (default the region's public one; ``$EASLAB_OSS_ENDPOINT``) while the
    service.json tells EAS the region's internal one. ``vpc``: predict through
    the VPC endpoint rather than the public one. ``timeout``: seconds each API call
    waits for its answer (default ``$EASLAB_PAI_TIMEOUT``, else 60; the CLI's
    ``--pai-timeout``). Credentials come from the
    standard chain (easlab/cloud/credentials.py), ``credential`` to pass one.
    ``region_source``: where ``region`` came from when it was not given, in words
    (``connect_pai`` sets it: ``$EASLAB_PAI_REGION``, the aliyun CLI's profile ...).
    """

    target = "pai"
    #: how often ``wait_settled`` asks DescribeService: (first wait s, growth, longest wait s).
    #: Every poll is an OpenAPI call on the account's rate limit, and a service waiting for
    #: resources may wait for long; tests set it small
    poll_interval: tuple[float, float, float] = POLL_INTERVAL
    #: seconds to wait before each new try of a read (``READS``) that met a passing trouble
    #: (a 5xx, throttling, a gateway's page, a connection reset); tests set them to 0
    retry_delays: tuple[float, ...] = RETRY_DELAYS
    #: seconds ``create`` waits for DescribeService to find the service it just made
    created_visible_s: float = CREATED_VISIBLE_S

    def __init__(
        self,
        region: str,
        *,
        endpoint: str | None = None,
        oss: str | None = None,
        oss_endpoint: str | None = None,
        timeout: float | None = None,
        vpc: bool = False,
        credential: Any = None,
        signature_algorithm: str | None = None,
        region_source: str = "",
    ) -> None:
        region = (region or "").strip()
        if not region:
            raise _no_region()
        _check_region(region, region_source)
        self.region = region
        #: where ``region`` came from when not given (``default_region``), in words, for the
        #: dry run and the hints that name the region; "" when given
        self.region_source = region_source
        override = endpoint or os.environ.get(ENDPOINT_ENV, "").strip() or None
        self.scheme, self.host = (
            resolve_endpoint(override) if override else ("https", f"pai-eas.{region}.aliyuncs.com")
        )
        self.oss = oss or os.environ.get(OSS_ENV, "").strip() or None
        self.oss_upload_endpoint = oss_endpoint or os.environ.get(OSS_ENDPOINT_ENV, "").strip()
        self.timeout = _read_timeout(timeout)
        self.vpc = vpc
        self.signature_algorithm = signature_algorithm
        self._credential = credential
        #: which credentials answered, in words for an error's hint (resolved before a call)
        self._credentials_used: str | None = None
        self._sdk: Any = None
        #: progress(upload, sent, total) while uploading, and once (size, size) for an
        #: object already on OSS (``upload.existed``); the CLI and magic set it
        self.upload_progress: UploadProgress | None = None

    @property
    def endpoint(self) -> str:
        """The API's base URL (the local KernelClient's ``endpoint``)."""
        return f"{self.scheme}://{self.host}"

    def __repr__(self) -> str:
        # never credentials: a repr ends up in notebooks and logs
        return f"PaiClient(region={self.region!r}, endpoint={self.endpoint!r})"

    # -- the SDK -------------------------------------------------------------------------

    @property
    def credential(self) -> Any:
        if self._credential is None:
            from easlab.cloud.credentials import credential_client

            self._credential = credential_client()
        return self._credential

    @property
    def sdk(self) -> Any:
        """The official ``alibabacloud_eas20210701.client.Client`` (built on first use)."""
        if self._sdk is None:
            try:
                from alibabacloud_eas20210701.client import Client
                from alibabacloud_tea_openapi import models as open_api_models
            except ImportError:
                raise PaiSetupError(
                    "the PAI-EAS target needs the Alibaba Cloud SDKs: pip install 'easlab[pai]'"
                ) from None
            config = open_api_models.Config(
                credential=self.credential,
                region_id=self.region,
                endpoint=self.host,
                protocol=self.scheme,
                read_timeout=max(1, round(self.timeout * 1000)),
                connect_timeout=10_000,
            )
            if self.signature_algorithm:  # "v2": the older `acs <AccessKeyId>:<signature>` ROA form
                config.signature_algorithm = self.signature_algorithm
            if is_loopback(self.host.rsplit(":", 1)[0]):
                config.no_proxy = self.host  # a stand-in on this machine: never via a proxy
            self._sdk = Client(config)
        return self._sdk

    def _check_credentials(self) -> str:
        """Resolve the credential chain once, before anything is sent: none found is a
        ``PaiSetupError`` saying how to set them (not "no answer from" the endpoint); found,
        which source answered, in words (never a secret) for the hints of refusals."""
        if self._credentials_used is None:
            from easlab.cloud.credentials import describe_source, resolve_source

            self._credentials_used = describe_source(*resolve_source(self.credential))
        return self._credentials_used

    def _call(self, action: str, method: str, *args: Any) -> dict[str, Any]:
        """One SDK call (``<method>_with_options``), its body as a dict; errors → PaiError."""
        from alibabacloud_tea_util import models as util_models

        sdk = self.sdk  # first: a missing SDK says "pip install", not "no credentials"
        self._check_credentials()
        runtime = util_models.RuntimeOptions(
            autoretry=False, read_timeout=max(1, round(self.timeout * 1000)), connect_timeout=10_000
        )
        delays = list(self.retry_delays) if action in READS else []
        while True:
            try:
                response = getattr(sdk, f"{method}_with_options")(*args, {}, runtime)
                break
            except PaiError:
                raise
            except Exception as exc:
                error = self._error(exc, action)
            if not (delays and _passing(error)):
                raise _maybe_done(error) if action not in READS else error
            # a 502 or a throttled poll must not end a wait of many minutes for a create
            time.sleep(delays.pop(0))  # a remote API's back-off, not thread synchronisation
        body = getattr(response, "body", None)
        return body.to_map() if body is not None else {}

    def _error(self, exc: Exception, action: str) -> PaiError:
        inner = getattr(exc, "inner_exception", None) or exc
        if type(inner).__module__.startswith("alibabacloud_credentials"):
            # the chain failed while signing (credentials gone since they were resolved)
            from easlab.cloud.credentials import no_credentials

            return no_credentials(inner)
        if getattr(exc, "data", None) or getattr(exc, "code", None):
            return PaiError.from_sdk(
                exc, action, self._credentials_used or "", self.region, self.region_source
            )
        # no answer at all (connection refused, DNS, TLS): the SDK wraps it; say where
        text = " ".join(str(getattr(inner, "message", None) or inner).split())
        page = _not_json(text)
        if page is not None:
            return PaiError(
                0,
                "NotEasAnswer",
                f"{self.endpoint} answered with something that is not PAI-EAS's JSON: {page}",
                action=action,
                hint=(
                    "a gateway or proxy between this machine and EAS failed (an HTML 502 or "
                    "504 page), or the endpoint is not the PAI-EAS API: retry in a minute; "
                    f"check --pai-endpoint / ${ENDPOINT_ENV} and this machine's proxy "
                    "(HTTPS_PROXY)"
                ),
            )
        if "read timed out" in text.lower():
            return PaiError(
                0,
                "NoAnswer",
                f"no answer from {self.endpoint} within {self.timeout:g} s (the API's read "
                "timeout)",
                action=action,
                hint=(
                    "the API is slow or its answer was lost: try again; to wait longer (or "
                    f"less), --pai-timeout SECONDS, ${TIMEOUT_ENV}, or "
                    "connect(target='pai', pai_timeout=SECONDS)"
                ),
            )
        if _unresolved(text):
            return PaiError(
                0,
                "NoAnswer",
                f"no answer from {self.endpoint}: its host {self.host} does not resolve",
                action=action,
                hint=self._unresolved_hint(),
            )
        cut = text[:300] + ("..." if len(text) > 300 else "")
        return PaiError(0, "NoAnswer", f"no answer from {self.endpoint}: {cut}", action=action)

    def _unresolved_hint(self) -> str:
        if self.host != f"pai-eas.{self.region}.aliyuncs.com":  # an endpoint given by hand
            return (
                f"is the endpoint right? (--pai-endpoint / ${ENDPOINT_ENV}); "
                "and the network or proxy of this machine"
            )
        return (
            f"no such region {self.region!r}{self._region_from()}? (--region / ${REGION_ENV}; "
            f"PAI-EAS regions: {', '.join(PAI_EAS_REGIONS)}){self._did_you_mean()} Else check "
            "this machine's DNS and network"
        )

    def _region_from(self) -> str:
        return f" (region from {self.region_source})" if self.region_source else ""

    def _did_you_mean(self) -> str:
        import difflib

        close = difflib.get_close_matches(self.region, PAI_EAS_REGIONS, n=1, cutoff=0.6)
        return f"; did you mean {close[0]}?" if close else ""

    def _models(self) -> Any:
        from alibabacloud_eas20210701 import models

        return models

    # -- kernel-level verbs --------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """Where this client points (no call is made): target, region, endpoint."""
        return {
            "target": "pai",
            "region": self.region,
            "region_source": self.region_source or "given",
            "endpoint": self.endpoint,
            "api_version": API_VERSION,
            "oss": self.oss,
        }

    def gpu(self) -> dict[str, Any]:
        """PAI-EAS has no GPUs of its own to list: a service asks for them."""
        return {
            "gpus": [],
            "source": "none",
            "message": "on PAI-EAS a service asks for GPUs (metadata.gpu, "
            "cloud.computing.instance_type); `easlab gpu` without --target pai lists this "
            "machine's",
        }

    def close(self) -> None:
        self._sdk = None

    # -- creating ------------------------------------------------------------------------

    def _check(
        self,
        spec: dict[str, Any] | str | Path,
        *,
        allow_cpu_fallback: bool,
        allow_unknown_keys: bool,
    ) -> tuple[ServiceSpec, Portability]:
        """The parsed service.json and what EAS would refuse; nothing packed or sent."""
        from easlab.spec import parse_spec

        parsed = parse_spec(spec, allow_unknown_keys=allow_unknown_keys)
        report = check_portability(
            parsed.raw,  # what EAS gets: the file as written (_prepare)
            oss_configured=bool(self.oss),
            allow_cpu_fallback=allow_cpu_fallback,
            region=self.region,
            base_dir=parsed.base_dir,
            partial=False,
        )
        return parsed, report

    def _prepare(
        self, parsed: ServiceSpec, *, blue_green: bool
    ) -> tuple[dict[str, Any], dict[str, Any], list[Upload]]:
        """(local service.json, the one EAS gets, uploads): local folders are packed (for
        their hash) here, nothing is sent. EAS gets the file as written (``parsed.raw``:
        a nested ``rpc`` block, a number written as text, metadata.name stay so), but for
        the local paths, which become OSS URLs, and a blue-green sibling's name."""
        from easlab.client.control import _absolutize

        local = copy.deepcopy(parsed.raw)
        uploads: list[Upload] = []
        sent = _absolutize(local, parsed.base_dir)
        if self.oss:
            from easlab.cloud.upload import parse_oss, plan_uploads

            sent, uploads = plan_uploads(
                local,
                parse_oss(self.oss),
                parsed.base_dir,
                f"oss-{self.region}-internal.aliyuncs.com",
            )
        if blue_green:
            # EAS's blue-green: a sibling in the entry service's group (eascmd create -r)
            sibling = f"{parsed.name}_{secrets.token_hex(4)}"
            meta = dict(sent.get("metadata") or {})
            meta.setdefault("group", parsed.name)
            sent = {**sent, "metadata": meta}
            if "name" in meta and not sent.get("name"):
                meta["name"] = sibling  # the name where the file writes it
            else:
                sent["name"] = sibling
        return local, sent, uploads

    @staticmethod
    def _refuse(report: Portability) -> None:
        if report.blocking:
            field_, message = report.blocking[0]
            more = (
                f" (and {len(report.blocking) - 1} more: see --dry-run)"
                if len(report.blocking) > 1
                else ""
            )
            from easlab.errors import SpecError

            raise SpecError(field_, f"not deployable on PAI-EAS: {message}{more}")

    def plan_create(
        self,
        spec: dict[str, Any] | str | Path,
        blue_green: bool = False,
        allow_cpu_fallback: bool = False,
        *,
        allow_unknown_keys: bool = False,
    ) -> CloudPlan:
        """``create --dry-run``: what would be uploaded and sent; nothing is."""
        from easlab.spec import diff_specs

        parsed, report = self._check(
            spec, allow_cpu_fallback=allow_cpu_fallback, allow_unknown_keys=allow_unknown_keys
        )
        local, sent, uploads = self._prepare(parsed, blue_green=blue_green)
        from easlab.cloud.upload import cleanup

        cleanup(uploads)  # the packed folders were needed only for their hash
        if self.region not in PAI_EAS_REGIONS:
            # the dry run sends nothing, so a mistyped region would pass unseen until create
            report.warnings.insert(
                0,
                (
                    "region",
                    f"{self.region!r}{self._region_from()} is not a PAI-EAS region easlab "
                    f"knows{self._did_you_mean()} (--region / ${REGION_ENV}; PAI-EAS regions: "
                    f"{', '.join(PAI_EAS_REGIONS)})",
                ),
            )
        return CloudPlan(
            name=_name_in(sent),
            verb="would create",
            changes=diff_specs(local, sent) or ["(the same as the local one)"],
            warnings=list(parsed.warnings),
            target=f"PAI-EAS {self.region} ({self.endpoint})",
            service_json=masked(sent),
            uploads=[u.line() for u in uploads],
            portability=report.lines(),
            region_source=self.region_source,
        )

    def create(
        self,
        spec: dict[str, Any] | str | Path,
        blue_green: bool = False,
        allow_cpu_fallback: bool = False,
        *,
        wait: bool = True,
        timeout: float | None = None,
        allow_unknown_keys: bool = False,
    ) -> Service:
        """Upload local paths to OSS, then ``CreateService``; a ``Service`` handle.

        What EAS would refuse (a local path with no OSS, cpu fallback, an
        easlab-only processor) raises ``SpecError`` before anything is sent; a name
        the region has already (``DescribeService`` finds it) raises ``PaiError``
        before anything is packed or uploaded.
        With ``wait`` it returns once the service runs or has failed.
        """
        from easlab.client.control import Service

        parsed, report = self._check(
            spec, allow_cpu_fallback=allow_cpu_fallback, allow_unknown_keys=allow_unknown_keys
        )
        self._refuse(report)
        if not blue_green:  # a blue-green sibling gets a fresh name of its own
            self._refuse_existing(parsed.name)
        _, sent, uploads = self._prepare(parsed, blue_green=blue_green)
        from easlab.cloud.upload import cleanup

        try:
            self._upload(uploads)
        finally:
            cleanup(uploads)
        request = self._models().CreateServiceRequest(body=json.dumps(sent, ensure_ascii=False))
        try:
            answer = self._call("CreateService", "create_service", request)
        except PaiError as exc:
            raise _left_on_oss(exc, uploads) from None
        name = str(answer.get("ServiceName") or _name_in(sent))
        desc = self._describe_created(name, answer.get("RequestId"))
        # what EAS may misrun (report.warnings) is said on create as in the dry run, then
        # the fields EAS acts on that the local kernel ignored (report.notes)
        desc["warnings"] = list(parsed.warnings) + [
            f"{f}: {m}" for f, m in [*report.warnings, *report.notes]
        ]
        if wait:
            from easlab.client.control import wait_settled

            desc = wait_settled(self, desc, timeout or 1800)  # type: ignore[arg-type]
        return Service(self, desc)  # type: ignore[arg-type]

    def _describe_created(self, name: str, request_id: str | None) -> dict[str, Any]:
        """DescribeService of the service CreateService just made: EAS may answer "not
        found" for a moment after the create (was: that 404 was create's answer, for a
        service that was being made), so it is asked again, backing off as the wait
        does, for ``created_visible_s``; a ``PaiError`` saying so if it never appears."""
        first, growth, longest = self.poll_interval
        delay = first
        deadline = time.monotonic() + self.created_visible_s
        tries = 0
        while True:
            tries += 1
            try:
                return self.describe(name)
            except PaiError as exc:
                if not _not_found(exc):
                    raise
                left = deadline - time.monotonic()
                if left <= 0:
                    created = f" (request id {request_id})" if request_id else ""
                    raise PaiError(
                        exc.status,
                        exc.code,
                        f"CreateService accepted service {name}{created}, but "
                        f"DescribeService did not find it in {tries} tries over "
                        f"{self.created_visible_s:g} s",
                        action="DescribeService",
                        request_id=exc.request_id,
                        hint=(
                            f"EAS may still be making it: `easlab desc {name} --target pai` "
                            "(%eas desc) shows it once it is listed; do not create it again "
                            f"before `easlab ls --target pai` says it is not there (a second "
                            "create of the name is refused once it is)"
                        ),
                    ) from None
                time.sleep(min(delay, left))  # a remote API's back-off, not thread sync
                delay = min(delay * growth, longest)

    def _refuse_existing(self, name: str) -> None:
        """Refuse to create ``name`` when the region has a service of that name already
        (``DescribeService`` answers; not found: go on), with the error and hint of EAS's own
        refusal of ``CreateService``: EAS refuses only after the upload, maybe gigabytes.
        Another client may still create it meanwhile; EAS then refuses as before."""
        try:
            body = self._call("DescribeService", "describe_service", self.region, name)
        except PaiError as exc:
            if _not_found(exc):
                return
            raise
        code = "ServiceAlreadyExists"
        raise PaiError(
            409,  # the local kernel's status for the same refusal
            code,
            f"Service {name} already exists in {self.region}{self._region_from()}; nothing "
            "was uploaded or created",
            action="CreateService",
            request_id=body.get("RequestId"),
            hint=hint_for(code, action="CreateService"),
        )

    def upload(self, path: str | Path) -> str:
        """Upload one local file (a folder is packed) under ``oss``; its ``oss://`` URL
        (eascmd ``upload``). An object already there under the same content hash is kept."""
        if not self.oss:
            raise PaiSetupError(
                "easlab upload needs where to put the file: --oss oss://BUCKET/PREFIX "
                f"(or ${OSS_ENV})"
            )
        from easlab.cloud.portability import missing_local_path
        from easlab.cloud.upload import cleanup, parse_oss, plan_uploads

        missing = missing_local_path(str(path), None)
        if missing:  # said of the file given, not of a service.json field it is not in
            raise ValueError(missing)
        _, uploads = plan_uploads(
            {"processor_path": str(local_path(str(path), None))},
            parse_oss(self.oss),
            None,
            f"oss-{self.region}-internal.aliyuncs.com",
        )
        try:
            self._upload(uploads)
        finally:
            cleanup(uploads)
        return uploads[0].uri

    def _upload(self, uploads: list[Upload]) -> None:
        if not uploads:
            return
        from easlab.cloud.credentials import oss_credentials_provider
        from easlab.cloud.upload import oss_client, perform_uploads

        client = oss_client(
            self.region,
            self.oss_upload_endpoint or f"oss-{self.region}.aliyuncs.com",
            oss_credentials_provider(self.credential),
        )
        self._check_credentials()  # no credentials: say how to set them, not "PutObject failed"
        perform_uploads(uploads, client, self.upload_progress)
        if self.upload_progress is not None:
            for upload in uploads:
                if upload.existed:  # skipped: the progress says so (upload.existed is True)
                    self.upload_progress(upload, upload.size, upload.size)

    # -- reading -------------------------------------------------------------------------

    def list(self) -> list[dict[str, Any]]:
        """Every service of the region (``ListServices``, all pages)."""
        models = self._models()
        out: builtins.list[dict[str, Any]] = []
        page = 1
        while True:
            body = self._call(
                "ListServices",
                "list_services",
                models.ListServicesRequest(page_number=page, page_size=100),
            )
            services = body.get("Services") or []
            out += [service_desc(s, vpc=self.vpc) for s in services]
            total = int(body.get("TotalCount") or 0)
            if not services or len(out) >= total:
                return out
            page += 1

    def describe(self, name: str) -> dict[str, Any]:
        """One service (``DescribeService``) as a ``ServiceDesc``."""
        body = self._call("DescribeService", "describe_service", self.region, name)
        return service_desc(body, vpc=self.vpc)

    def workers(self, name: str) -> builtins.list[dict[str, Any]]:
        """The service's instances (``ListServiceInstances``)."""
        models = self._models()
        body = self._call(
            "ListServiceInstances",
            "list_service_instances",
            self.region,
            name,
            models.ListServiceInstancesRequest(page_number=1, page_size=100),
        )
        return [worker_row(i) for i in body.get("Instances") or []]

    def logs(self, name: str, n: int = 50) -> builtins.list[str]:
        """The service's last ``n`` log lines (``DescribeServiceLog``; 0: the last 500).

        EAS pages the log oldest first: the first page says how many pages there are,
        then the last one (and the one before, when the last is short) is fetched.
        """
        models = self._models()
        size = int(n) or 500

        def page(number: int) -> dict[str, Any]:
            return self._call(
                "DescribeServiceLog",
                "describe_service_log",
                self.region,
                name,
                models.DescribeServiceLogRequest(page_num=number, page_size=size),
            )

        first = page(1)
        pages = int(first.get("TotalPageNum") or 0)
        if not pages and first.get("TotalCount"):
            pages = -(-int(first["TotalCount"]) // size)
        lines = [str(line) for line in first.get("Logs") or []]
        if pages > 1:
            last = [str(line) for line in page(pages).get("Logs") or []]
            before: builtins.list[str] = []
            if len(last) < size:
                before = (
                    lines
                    if pages == 2
                    else [str(line) for line in page(pages - 1).get("Logs") or []]
                )
            lines = before + last
        return lines[-size:]

    def service(self, name: str) -> Service:
        """A ``Service`` handle of an existing service (``svc.client()`` predicts on EAS)."""
        from easlab.client.control import Service

        return Service(self, self.describe(name))  # type: ignore[arg-type]

    # -- changing ------------------------------------------------------------------------

    def modify(
        self,
        name: str,
        set: dict[str, Any] | None = None,  # noqa: A002 - eascmd's word
        spec: dict[str, Any] | str | Path | None = None,
        *,
        allow_unknown_keys: bool = False,
    ) -> dict[str, Any]:
        """``UpdateService`` with a partial service.json: ``set`` (``-D``) or ``spec`` (``-s``).

        Local model/processor paths in ``spec`` are uploaded first, as for create.
        """
        if (set is None) == (spec is None):
            raise ValueError("modify() takes exactly one of set= (-D overrides) or spec= (-s)")
        from easlab.spec import check_typos

        if set is not None:
            from easlab.spec import apply_overrides

            overrides = {k: v if isinstance(v, str) else json.dumps(v) for k, v in set.items()}
            partial = apply_overrides({}, overrides)
            if not allow_unknown_keys:
                # as the local kernel's modify: a near miss of a known key (did you mean ...?)
                check_typos(partial)
            from easlab.errors import SpecError
            from easlab.spec import MASK_LEFT, mask_left_in

            for dotted in mask_left_in(partial):  # -DdockerAuth=**** copied from desc
                raise SpecError(dotted, MASK_LEFT)
            self._check_change(name, lambda deployed: apply_overrides(deployed, overrides))
        else:
            from easlab.client.control import _absolutize
            from easlab.spec import load_spec_source, merge_specs, rename_refusal

            assert spec is not None
            data, base_dir = load_spec_source(spec)
            if not allow_unknown_keys:
                check_typos(data)
            renamed = rename_refusal(data, name)
            if renamed is not None:
                raise renamed
            report = check_portability(
                data,
                oss_configured=bool(self.oss),
                region=self.region,
                base_dir=base_dir,
                partial=True,
            )
            self._refuse(report)
            partial = _absolutize(data, base_dir)
            self._check_change(name, lambda deployed: merge_specs(deployed, partial))
            if self.oss:
                from easlab.cloud.upload import cleanup, parse_oss, plan_uploads

                partial, uploads = plan_uploads(
                    data, parse_oss(self.oss), base_dir, f"oss-{self.region}-internal.aliyuncs.com"
                )
                try:
                    self._upload(uploads)
                finally:
                    cleanup(uploads)
        request = self._models().UpdateServiceRequest(body=json.dumps(partial, ensure_ascii=False))
        self._call("UpdateService", "update_service", self.region, name, request)
        return self.describe(name)

    def _check_change(self, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Refuse a modify whose result is not a valid service.json, as the local kernel's
        modify does (a count that is not a number, a batch size of 0, ...), before EAS
        gets it: ``change`` applied to the deployed service.json (``DescribeService``)
        must parse. A deployed one easlab cannot read itself (a field only EAS knows)
        leaves the change for EAS to judge: the error would not be the change's.
        """
        from easlab.errors import SpecError
        from easlab.spec import parse_spec

        deployed = self.describe(name).get("spec")
        if not isinstance(deployed, dict) or not deployed:
            return
        try:
            parse_spec({**deployed, "name": name}, allow_unknown_keys=True)
        except SpecError:
            return
        parse_spec({**change(deployed), "name": name}, allow_unknown_keys=True)

    def version(self, name: str, version: int, force: bool = False) -> dict[str, Any]:
        """Switch to another version (``UpdateServiceVersion``)."""
        request = self._models().UpdateServiceVersionRequest(version=int(version))
        self._call("UpdateServiceVersion", "update_service_version", self.region, name, request)
        return self.describe(name)

    def stop(self, name: str) -> dict[str, Any]:
        """``StopService``; the service keeps its name and versions."""
        self._call("StopService", "stop_service", self.region, name)
        return self.describe(name)

    def start(self, name: str) -> dict[str, Any]:
        """``StartService``."""
        self._call("StartService", "start_service", self.region, name)
        return self.describe(name)

    def delete(self, name: str) -> dict[str, Any]:
        """``DeleteService`` (no confirmation here; the CLI asks)."""
        body = self._call("DeleteService", "delete_service", self.region, name)
        return {"deleted": name, "message": body.get("Message")}

    def release(self, name: str, weight: int) -> dict[str, Any]:
        """``ReleaseService``: give blue-green service ``name`` ``weight`` of its group's traffic."""
        weight = int(weight)
        if not 0 <= weight <= 100:
            raise ValueError(f"weight must be a percentage between 0 and 100, got {weight}")
        request = self._models().ReleaseServiceRequest(weight=weight)
        self._call("ReleaseService", "release_service", self.region, name, request)
        return self.describe(name)


def _name_in(spec: dict[str, Any]) -> str:
    """The service's name in a service.json as sent: ``name``, or ``metadata.name``."""
    meta = spec.get("metadata")
    inner = meta.get("name") if isinstance(meta, dict) else None
    return str(spec.get("name") or inner)


#: what urllib3/socket say when a host name does not resolve (Linux, macOS, Windows)
_UNRESOLVED = (
    "failed to resolve",
    "name or service not known",
    "nodename nor servname",
    "getaddrinfo failed",
    "temporary failure in name resolution",
    "no address associated",
)


def _read_timeout(given: float | None) -> float:
    """The API's read timeout in seconds: ``given``, else ``$EASLAB_PAI_TIMEOUT``, else
    60; a PaiSetupError naming where a value that is no positive number came from."""
    import math

    where: str = f"--pai-timeout (timeout) {given!r}"
    value: Any = given
    if given is None:
        text = os.environ.get(TIMEOUT_ENV, "").strip()
        if not text:
            return DEFAULT_TIMEOUT
        where = f"${TIMEOUT_ENV}={text}"
        try:
            value = float(text)
        except ValueError:
            value = None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value <= 0:
        raise PaiSetupError(
            f"{where}: the PAI-EAS API's read timeout is a number of seconds above 0, "
            "e.g. 120 (how long each API call waits for its answer)"
        )
    return float(value)


def _passing(error: PaiError) -> bool:
    """A trouble that may be gone on the next try: EAS's own (5xx), throttling, a gateway's
    page, a connection reset. Not a refusal of the request, nor a host that does not
    resolve or refuses connections (the same next time)."""
    code = error.code.lower()
    return (
        error.status >= 500
        or error.status == 429
        or code.startswith(("throttling", "serviceunavailable"))
        or code == "noteasanswer"
        or (code == "noanswer" and "reset by peer" in error.message.lower())
    )


def _left_on_oss(error: PaiError, uploads: list[Upload]) -> PaiError:
    """``error`` of a CreateService that failed after its local paths went up to OSS, with
    a hint saying what is there now (was: nothing said of the objects left behind)."""
    if not uploads:
        return error
    objects = ", ".join(
        f"{u.field} {u.uri} ({'there before' if u.existed else 'uploaded now'})" for u in uploads
    )
    return _with_hint(
        error,
        f"before CreateService, the create put on OSS (and OSS keeps): {objects}; run "
        "again, it finds them there and does not send them again (to give up, delete them "
        "with `ossutil rm` or in the OSS console)",
    )


def _with_hint(error: PaiError, more: str) -> PaiError:
    """``error`` with ``more`` said after its own hint."""
    return PaiError(
        error.status,
        error.code,
        error.message,
        action=error.action,
        request_id=error.request_id,
        field=error.field,
        hint=f"{error.hint}; {more}" if error.hint else more,
    )


def _maybe_done(error: PaiError) -> PaiError:
    """A change whose answer was lost (a 5xx, a gateway's page, a timeout, a reset) may
    have been made all the same: ``error`` with a hint saying to look before doing it
    again (a second CreateService would be refused, a second UpdateService done twice)."""
    low = error.message.lower()
    unsure = (
        error.status >= 500
        or error.code == "NotEasAnswer"
        or (error.code == "NoAnswer" and "refused" not in low and not _unresolved(low))
    )
    if not unsure:
        return error
    return _with_hint(
        error,
        f"{error.action} may have been done before its answer was lost: look with `easlab "
        "ls --target pai` or `easlab desc NAME --target pai` before running it again",
    )


#: how the SDK says an answer's body was not JSON (an HTML error page), the body after it
_NOT_JSON = re.compile(r'^Failed to parse the value as json format, Value: "(.*)"\.?$', re.S)


def _not_json(text: str) -> str | None:
    """The body the SDK could not read as JSON, as text (tags dropped, cut short); None
    when ``text`` is another error. The SDK keeps no status for such an answer, so the
    page's own words ("502 Bad Gateway") are what says what happened."""
    found = _NOT_JSON.match(text)
    if found is None:
        return None
    words = " ".join(re.sub(r"<[^>]*>", " ", found.group(1)).split()) or "(an empty body)"
    return words[:300] + ("..." if len(words) > 300 else "")


def _unresolved(text: str) -> bool:
    low = text.lower()
    return any(marker in low for marker in _UNRESOLVED)


class RegionFound(NamedTuple):
    """``default_region``'s answer."""

    #: "" when nothing names one
    region: str
    #: where it came from, in words: "$EASLAB_PAI_REGION", "the aliyun CLI's profile ..."
    source: str = ""
    #: why the aliyun CLI's profile gave none though its file is there (malformed ...)
    problem: str = ""


def default_region() -> RegionFound:
    """The region when none is given: ``$EASLAB_PAI_REGION``, else
    ``$ALIBABA_CLOUD_REGION_ID``, else the ``region_id`` of the aliyun CLI's profile
    (``~/.aliyun/config.json``: the profile ``$ALIBABA_CLOUD_PROFILE`` names, else its
    ``current``). No file is no region; a malformed one is said in ``problem``."""
    for name in (REGION_ENV, "ALIBABA_CLOUD_REGION_ID"):
        value = os.environ.get(name, "").strip()
        if value:
            return RegionFound(value, f"${name}")
    from easlab.cloud.credentials import cli_profile_region

    try:
        found = cli_profile_region()
    except ValueError as exc:
        return RegionFound("", problem=f"the aliyun CLI's profile gave none: {exc}")
    if found is None:
        return RegionFound("")
    region, profile = found
    return RegionFound(region, f"the aliyun CLI's profile {profile!r} in ~/.aliyun/config.json")


#: a region ID's shape (cn-hangzhou, ap-southeast-1, us-east-1): a region easlab does not
#: list yet is let through, a URL, a host name or "CN-Hangzhou" is not
_REGION_ID = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+$")


def _check_region(region: str, source: str = "") -> None:
    """Refuse, before anything is built or sent, a region that is no region ID: it would
    become the API's host name (pai-eas.REGION.aliyuncs.com) and fail as a DNS error."""
    if _REGION_ID.match(region):
        return
    where = f" (region from {source})" if source else ""
    if "." in region or "/" in region or ":" in region:
        fix = (
            "a region ID such as cn-hangzhou; an endpoint of the API goes in --pai-endpoint "
            f"(${ENDPOINT_ENV}, connect(target='pai', pai_endpoint=...))"
        )
    elif _REGION_ID.match(close := "-".join(region.lower().split())):
        fix = f"a region ID, in lowercase with hyphens: {close}"
    else:
        fix = "a region ID such as cn-hangzhou"
    raise PaiSetupError(
        f"{region!r}{where} is not a region: --region (${REGION_ENV}) takes {fix}; PAI-EAS "
        f"regions: {', '.join(PAI_EAS_REGIONS)}"
    )


def _no_region(problem: str = "") -> PaiSetupError:
    why = f" ({problem})" if problem else ""
    return PaiSetupError(
        "the PAI-EAS target needs a region: --region cn-hangzhou, "
        f"connect(target='pai', region=...), ${REGION_ENV}, $ALIBABA_CLOUD_REGION_ID, or "
        f"region_id in the aliyun CLI's profile (~/.aliyun/config.json){why}"
    )


def connect_pai(
    region: str | None = None,
    *,
    endpoint: str | None = None,
    oss: str | None = None,
    oss_endpoint: str | None = None,
    **options: Any,
) -> PaiClient:
    """A ``PaiClient``: ``region`` given, else ``default_region()`` (``$EASLAB_PAI_REGION``,
    ``$ALIBABA_CLOUD_REGION_ID``, the aliyun CLI's profile's ``region_id``)."""
    found = RegionFound(region.strip()) if region and region.strip() else default_region()
    if not found.region:
        raise _no_region(found.problem)
    return PaiClient(
        found.region,
        endpoint=endpoint,
        oss=oss,
        oss_endpoint=oss_endpoint,
        region_source=found.source,
        **options,
    )


def _not_found(exc: PaiError) -> bool:
    """EAS's "no such service" (``InvalidService.NotFound``, HTTP 404)."""
    return exc.status == 404 or "notfound" in exc.code.lower()
