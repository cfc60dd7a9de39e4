"""What PAI-EAS answered when it refused a call: its code, message and request id."""

from __future__ import annotations

import re
from typing import Any

from easlab.errors import KernelError

__all__ = ["PaiError", "PaiSetupError", "field_named", "hint_for"]

#: service.json fields an EAS message may name (SPEC §5, and the blocks only PAI-EAS reads:
#: spec.PAI_EAS_KEYS, with an item's index and a nested field: storage[0].mount_path); the
#: longest match wins
_FIELD = re.compile(
    r"\b(metadata\.[a-z_][\w.]*|cloud\.[\w.]+|"
    r"(?:storage|containers)(?:\[\d+\])?(?:\.[A-Za-z_][\w.]*)?|"
    r"(?:networking|autoscaler|labels)(?:\.[A-Za-z_][\w.]*)?|dockerAuth|warm_up_data_path|"
    r"model_path|processor_path|processor_entry|"
    r"processor_type|processor_mainclass|processor|model_entry|model_config|oss_endpoint|"
    r"data_image|token|name|metadata)(?![\w\[])"
)


def field_named(message: str) -> str | None:
    """The service.json field an EAS error message names, if any (``metadata.instance``).

    A field the message says is required or missing wins ("oss_endpoint is required
    with an oss:// processor_path" blames oss_endpoint); else the longest one named.
    """
    text = message or ""
    for match in _FIELD.finditer(text):
        if re.match(r"\s+(is|are)\s+(required|missing)", text[match.end() :]):
            return match.group(0).rstrip(".")
    # a sentence's full stop is no part of the field ("... metadata.instance.")
    found = [name.rstrip(".") for name in _FIELD.findall(text)]
    return max(found, key=len) if found else None


def hint_for(
    code: str,
    message: str = "",
    action: str = "",
    credentials: str = "",
    region: str = "",
    region_source: str = "",
    status: int = 0,
) -> str:
    """What to check when EAS refuses a call with ``code`` ("" when EAS's words say it all).

    ``credentials``: which credentials were used, in words (``describe_source``: the source
    and the masked AccessKey ID), never a secret. E.g. ``InvalidAccessKeyId.NotFound`` →
    "Alibaba Cloud knows no such AccessKey ID ...; used: AccessKey LTAI****Key, from ...".
    ``region_source``: where ``region`` came from when it was not given
    (``$EASLAB_PAI_REGION``, the aliyun CLI's profile ...). ``status``: the HTTP status
    (a 5xx is EAS's own trouble, whatever its code).
    """
    used = f"; used: {credentials}" if credentials else ""
    low = code.lower()
    if low.startswith("invalidaccesskeyid"):
        return (
            "Alibaba Cloud knows no such AccessKey ID (mistyped, deleted or disabled, or one "
            f"of the other site: aliyun.com and alibabacloud.com keys differ){used}. Check it "
            "in the RAM console's AccessKey list"
        )
    if low.startswith(("signaturedoesnotmatch", "incompletesignature", "invalidsignature")):
        return (
            "the AccessKey secret does not match its ID (copied short or with a space, or "
            f"another key's secret), or this machine's clock is off{used}. Copy the secret again"
        )
    if (
        low.startswith(("invalidtimestamp", "requesttimetooskewed"))
        or "time stamp or date value is expired" in message.lower()
    ):
        # each request carries this machine's time (x-acs-date); Alibaba Cloud refuses one
        # more than 15 minutes off its own clock
        return (
            "this machine's clock is more than 15 minutes off Alibaba Cloud's (each request "
            "is signed with its time): set the clock right (timedatectl set-ntp true, or "
            "the system's time settings; in a container, the host's clock), then retry"
        )
    if low.startswith(("invalidsecuritytoken", "securitytoken")):
        return f"the STS token is expired or not valid{used}. Get a fresh one"
    if low.startswith(("forbidden", "accessdenied", "noauth")) or "nopermission" in low:
        what = f" {action}" if action else ""
        return (
            f"the RAM user or role of these credentials may not call{what} on EAS{used}. "
            f"Attach AliyunPAIEASFullAccess (or a policy allowing eas:{action or '*'}) to it "
            "in the RAM console, or use another AccessKey"
        )
    if action == "CreateService" and ("alreadyexist" in low or "already exist" in message.lower()):
        # the local kernel's 409 says the same (easlab/kernel/control.py)
        return (
            "a service of this name is already in the region: change it with `easlab modify "
            "NAME -s service.json` (or -Dmetadata.instance=N), create a blue-green sibling with "
            "`create -r`, delete it first, or pick another name"
        )
    if low == "invalidservice.notfound" and region:
        # services live in one region: a right name in the wrong region reads as "not found"
        where = f" (region from {region_source})" if region_source else ""
        return (
            f"no service of that name in {region}{where}: `easlab ls --target pai --region "
            f"{region}` lists the ones there; is it in another region (--region / "
            "$EASLAB_PAI_REGION)?"
        )
    if low.startswith("throttling"):
        return (
            "EAS is throttling this account's OpenAPI calls: wait a minute, then retry; "
            "fewer easlab commands polling at once help"
        )
    if "quota" in low or "quota" in message.lower():
        return (
            "a quota is used up (the account's, or the resource group's): ask for less "
            "(metadata.instance, cpu, gpu, memory), stop or delete services you do not use, or "
            "raise the quota in the PAI console"
        )
    if status >= 500 or low.startswith(("internalerror", "serviceunavailable")):
        return (
            "EAS failed on its side, not because of this request: retry in a minute; if it "
            "keeps failing, see https://status.aliyun.com or open a ticket with the request id"
        )
    return ""


class PaiError(KernelError):
    """PAI-EAS refused a call: ``status`` (HTTP), ``code`` (EAS's, e.g. ``InvalidParameter``),
    ``message`` (EAS's own words), ``request_id`` (for a support ticket), ``field``.

    A subclass of ``KernelError`` so code written against the local kernel
    (``except KernelError``, ``exc.status == 404``) handles the cloud the same way.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        action: str = "",
        request_id: str | None = None,
        field: str | None = None,
        hint: str = "",
    ) -> None:
        self.code = code
        self.action = action
        self.request_id = request_id
        self.field = field
        #: what to check, in easlab's words (EAS's own are in ``message``)
        self.hint = hint
        where = f"{action}: " if action else ""
        named = f" [field {self.field}]" if self.field else ""
        rid = f"; request id {request_id}" if request_id else ""
        super().__init__(status, f"PAI-EAS {where}{code}: {message}{named}{rid}")
        if not status:  # no HTTP exchange (no answer, setup): no "(HTTP 0)" to puzzle over
            self.args = (f"PAI-EAS {where}{code}: {message}{named}{rid}",)
        if hint:
            self.args = (f"{self.args[0]}. Check: {hint}",)
        self.message = message

    @classmethod
    def from_sdk(
        cls, exc: Any, action: str, credentials: str = "", region: str = "", region_source: str = ""
    ) -> PaiError:
        """Turn the SDK's exception (Tea/Dara ``code``, ``data``) into a ``PaiError``;
        ``credentials`` (which ones were used, in words) goes into the hint of a refusal
        that is about them (``InvalidAccessKeyId``, ``SignatureDoesNotMatch``, ``Forbidden``)."""
        data = getattr(exc, "data", None) or {}
        status = int(data.get("statusCode") or getattr(exc, "statusCode", 0) or 0)
        code = str(data.get("Code") or data.get("code") or getattr(exc, "code", "") or "Error")
        message = str(
            data.get("Message") or data.get("message") or getattr(exc, "message", None) or exc
        )
        request_id = data.get("RequestId") or data.get("requestId")
        # only a refused request names a field (a 403 "token" is not service.json's token)
        field = field_named(message) if status == 400 else None
        return cls(
            status,
            code,
            message,
            action=action,
            request_id=request_id,
            field=field,
            hint=hint_for(code, message, action, credentials, region, region_source, status),
        )


class PaiSetupError(PaiError):
    """Nothing was sent: the target is not usable as configured (SDK missing, no
    credentials, an endpoint not allowed). The message says how to fix it."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "Setup", message)
        self.args = (message,)

    def __str__(self) -> str:
        return self.message
