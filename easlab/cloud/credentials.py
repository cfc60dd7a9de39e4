"""Alibaba Cloud credentials from the standard chain, never stored or printed by easlab.

The chain is ``alibabacloud-credentials``' default one, in its order:
environment variables (``ALIBABA_CLOUD_ACCESS_KEY_ID`` /
``ALIBABA_CLOUD_ACCESS_KEY_SECRET`` [/ ``ALIBABA_CLOUD_SECURITY_TOKEN``]), an OIDC
role (``ALIBABA_CLOUD_ROLE_ARN`` ...), the ``aliyun`` CLI's profile
(``~/.aliyun/config.json``), the credentials file (``~/.alibabacloud/credentials.ini``
or ``ALIBABA_CLOUD_CREDENTIALS_FILE``), then the ECS/DSW instance's RAM role.
easlab holds only the SDK's credential client; the keys stay inside it. The aliyun CLI's
profile also names a region (``region_id``): ``cli_profile_region``, the last place
``connect_pai`` looks for one.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from easlab.cloud.errors import PaiSetupError

__all__ = [
    "HOW_TO",
    "cli_config",
    "cli_profile_region",
    "credential_client",
    "credential_source",
    "describe_source",
    "no_credentials",
    "oss_credentials_provider",
    "quiet_sdk_log",
    "resolve_source",
]

HOW_TO = (
    "set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or write a "
    "profile in ~/.alibabacloud/credentials.ini ([default] type = access_key, "
    "access_key_id = ..., access_key_secret = ...), or run where a RAM role is attached "
    "(ECS, DSW); see https://help.aliyun.com/document_detail/378659.html"
)


def _require_sdk() -> None:
    try:
        import alibabacloud_credentials  # noqa: F401
    except ImportError:
        raise PaiSetupError(
            "the PAI-EAS target needs the Alibaba Cloud SDKs: pip install 'easlab[pai]'"
        ) from None


#: what each link of the chain is, in the words a user fixes it with (``provider_name``'s parts)
_SOURCES = {
    "env": "the environment (ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET)",
    "oidc_role_arn": "the OIDC role (ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE)",
    "cli_profile": "the aliyun CLI's profile (~/.aliyun/config.json)",
    "profile": "the credentials file (~/.alibabacloud/credentials.ini or "
    "$ALIBABA_CLOUD_CREDENTIALS_FILE)",
    "ecs_ram_role": "the RAM role of this ECS/DSW instance",
    "credential_uri": "the credentials URI (ALIBABA_CLOUD_CREDENTIALS_URI)",
}


def credential_client() -> Any:
    """The SDK's default-chain credential client (``alibabacloud_credentials.client.Client``)."""
    _require_sdk()
    from alibabacloud_credentials.client import Client

    quiet_sdk_log()
    try:
        return Client()
    except Exception as exc:  # the chain may fail while building (a broken profile file)
        raise PaiSetupError(f"no Alibaba Cloud credentials: {_safe(exc)}; {HOW_TO}") from None


def quiet_sdk_log() -> None:
    """Silence the stderr handlers ``alibabacloud_credentials`` attaches to its own
    ``credentials`` logger: each link of the chain that fails (no ECS metadata on a laptop)
    prints a traceback there, dozens of lines before easlab's one-line answer (``no
    credentials: set ...``). The records still reach the application's own logging."""
    for handler in logging.getLogger("credentials").handlers:
        if type(handler) is logging.StreamHandler:  # the SDK's own, not one a user added
            handler.setLevel(logging.CRITICAL + 1)


def no_credentials(exc: BaseException) -> PaiSetupError:
    """The chain found nothing (``CredentialException``): what to set, then the SDK's reason.

    A half-set pair of variables or an ``ALIBABA_CLOUD_PROFILE`` that names no profile is
    said first: the SDK's own words for them are deep in its chain dump, cut short.
    """
    return PaiSetupError(
        f"no Alibaba Cloud credentials found, nothing was sent: {_likely_cause() or HOW_TO} "
        f"(the SDK's chain said: {_safe(exc)})"
    )


def _likely_cause() -> str:
    """The mistake a new user makes, from the environment and the profile files (their
    names only, never a key): "" when none of them is it."""
    key_id = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "").strip()
    secret = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "").strip()
    if bool(key_id) != bool(secret):
        have, lack = (
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET")
            if key_id
            else ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_ACCESS_KEY_ID")
        )
        return f"{have} is set but {lack} is not: set both (or neither, to use a profile)"
    profile = os.environ.get("ALIBABA_CLOUD_PROFILE", "").strip()
    if profile:
        known = sorted(_profile_names())
        if profile not in known:
            there = f"profiles there: {', '.join(known)}" if known else "no profile there"
            return (
                f"ALIBABA_CLOUD_PROFILE={profile!r} names no profile of ~/.aliyun/config.json "
                f"or the credentials file ({there}): fix or unset it"
            )
    return ""


def _profile_names() -> set[str]:
    """The profile names of the aliyun CLI's config.json and the credentials.ini file."""
    import configparser

    names: set[str] = set()
    try:
        config = cli_config() or {}
        names |= {str(p.get("name")) for p in config.get("profiles") or [] if p.get("name")}
    except (ValueError, AttributeError, TypeError):
        pass
    ini = os.environ.get("ALIBABA_CLOUD_CREDENTIALS_FILE") or str(
        Path.home() / ".alibabacloud" / "credentials.ini"
    )
    parser = configparser.ConfigParser()
    try:
        parser.read(ini)
    except configparser.Error:
        pass
    return names | set(parser.sections())


def _cli_config_path() -> Path:
    # where the chain's cli_profile link reads it: the home folder ($HOME), .aliyun/config.json
    return Path.home() / ".aliyun" / "config.json"


def cli_config() -> dict[str, Any] | None:
    """The aliyun CLI's ``~/.aliyun/config.json`` as a dict: None when there is none or it
    cannot be read. ``ValueError`` naming the file when it is not a JSON object; the message
    never quotes the file (its profiles hold AccessKey secrets)."""
    path = _cli_config_path()
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        config = json.loads(data)
    except json.JSONDecodeError as exc:  # its msg and place, never the document
        raise ValueError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} is not a JSON object")
    return config


def cli_profile_region() -> tuple[str, str] | None:
    """(``region_id``, profile name) of the aliyun CLI's profile: the one
    ``$ALIBABA_CLOUD_PROFILE`` names, else the file's ``current`` (as the chain picks the
    profile for keys). None when there is no ``~/.aliyun/config.json``; ``ValueError``
    saying why when the file is there but gives no region (malformed, no such profile,
    a profile without ``region_id``). Only names and the region leave this function.

    ``ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true`` keeps the SDK's chain away from the file;
    it keeps this function away too (None): a user who turned the profile off expects
    none of it used, its region no more than its keys."""
    if os.environ.get("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "").strip().lower() == "true":
        return None
    config = cli_config()
    if config is None:
        return None
    path = _cli_config_path()
    profiles = config.get("profiles")
    if not isinstance(profiles, list):
        raise ValueError(f"{path} has no list of profiles")
    name = os.environ.get("ALIBABA_CLOUD_PROFILE", "").strip() or config.get("current")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{path} names no current profile (nor does $ALIBABA_CLOUD_PROFILE)")
    profile = next((p for p in profiles if isinstance(p, dict) and p.get("name") == name), None)
    if profile is None:
        raise ValueError(f"{path} has no profile {name!r}")
    region = profile.get("region_id")
    if not isinstance(region, str) or not region.strip():
        raise ValueError(f"the profile {name!r} of {path} has no region_id")
    return region.strip(), name


def _resolve(client: Any) -> Any:
    try:
        return client.get_credential()
    except Exception as exc:
        raise no_credentials(exc) from None


#: where a parse error of an ini file quotes the line (configparser: ``[line  4]: '...'``)
_QUOTED_LINE = re.compile(r"\[line\s+(\d+)\]:.*", re.S)


def _safe(exc: BaseException) -> str:
    """The SDK's reason, cut short: its messages name providers and files, but a long
    chain dump helps nobody. A malformed credentials file's parse error quotes the line
    that did not parse, and that line may be ``access_key_secret <the secret>``: its number
    is kept, its text and all after it dropped."""
    text = " ".join(str(exc).split())
    text = _QUOTED_LINE.sub(r"[line \1] of the file (not shown: it may hold a key)", text)
    return text[:300] + ("..." if len(text) > 300 else "")


def credential_source(client: Any) -> str:
    """Which link of the chain answered (e.g. ``env``, ``profile``, ``ecs_ram_role``): a name,
    never a key. Resolving it checks that credentials exist at all."""
    return resolve_source(client)[0]


def resolve_source(client: Any) -> tuple[str, str]:
    """(``credential_source``, the AccessKey ID masked as ``LTAI****Key``): what an error
    message may say about the credentials in use. ``PaiSetupError`` (with how to set them)
    when the chain finds none."""
    model = _resolve(client)
    source = getattr(model, "provider_name", None) or getattr(model, "type", None) or "unknown"
    return str(source), _mask_id(str(getattr(model, "access_key_id", "") or ""))


def _mask_id(key_id: str) -> str:
    # an AccessKey ID is no secret, yet a log needs only enough of it to tell two keys apart
    return f"{key_id[:4]}****{key_id[-3:]}" if len(key_id) >= 12 else "****"


def describe_source(source: str, key_id: str = "") -> str:
    """Which credentials, for a hint: ``("default/env", "LTAI****Key")`` → "AccessKey
    LTAI****Key, from the environment (ALIBABA_CLOUD_ACCESS_KEY_ID / ...)"."""
    words = next(
        (_SOURCES[p] for p in source.split("/") if p in _SOURCES),
        f"the credential source {source!r}",
    )
    return f"AccessKey {key_id}, from {words}" if key_id else words


def oss_credentials_provider(client: Any) -> Any:
    """The same chain for ``alibabacloud-oss-v2`` (it has its own provider interface)."""
    from alibabacloud_oss_v2.credentials import CredentialsProviderFunc
    from alibabacloud_oss_v2.types import Credentials

    def fetch() -> Credentials:
        model = _resolve(client)
        return Credentials(
            access_key_id=model.access_key_id,
            access_key_secret=model.access_key_secret,
            security_token=model.security_token or None,
        )

    return CredentialsProviderFunc(fetch)
