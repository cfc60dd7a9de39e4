"""Alibaba Cloud credentials from the standard chain, never stored or printed by easlab.

The chain is ``alibabacloud-credentials``' default one, in its order:
environment variables (``ALIBABA_CLOUD_ACCESS_KEY_ID`` /
``ALIBABA_CLOUD_ACCESS_KEY_SECRET`` [/ ``ALIBABA_CLOUD_SECURITY_TOKEN``]), an OIDC
role (``ALIBABA_CLOUD_ROLE_ARN`` ...), the ``aliyun`` CLI's profile
(``~/.aliyun/config.json``), the credentials file (``~/.alibabacloud/credentials.ini``
or ``ALIBABA_CLOUD_CREDENTIALS_FILE``), then the ECS/DSW instance's RAM role.
easlab holds only the SDK's credential client; the keys stay inside it.
"""

from __future__ import annotations

import logging
from typing import Any

from easlab.cloud.errors import PaiSetupError

__all__ = [
    "HOW_TO",
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
    import os

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
    import json
    import os
    from pathlib import Path

    names: set[str] = set()
    home = Path.home()
    try:
        config = json.loads((home / ".aliyun" / "config.json").read_text())
        names |= {str(p.get("name")) for p in config.get("profiles") or [] if p.get("name")}
    except (OSError, ValueError, AttributeError):
        pass
    ini = os.environ.get("ALIBABA_CLOUD_CREDENTIALS_FILE") or str(
        home / ".alibabacloud" / "credentials.ini"
    )
    parser = configparser.ConfigParser()
    try:
        parser.read(ini)
    except configparser.Error:
        pass
    return names | set(parser.sections())


def _resolve(client: Any) -> Any:
    try:
        return client.get_credential()
    except Exception as exc:
        raise no_credentials(exc) from None


def _safe(exc: BaseException) -> str:
    """The SDK's reason, cut short: its messages name providers and files, never secrets,
    but a long chain dump helps nobody."""
    text = " ".join(str(exc).split())
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
