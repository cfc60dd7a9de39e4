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

from typing import Any

from easlab.cloud.errors import PaiSetupError

__all__ = ["HOW_TO", "credential_client", "credential_source", "oss_credentials_provider"]

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


def credential_client() -> Any:
    """The SDK's default-chain credential client (``alibabacloud_credentials.client.Client``)."""
    _require_sdk()
    from alibabacloud_credentials.client import Client

    try:
        return Client()
    except Exception as exc:  # the chain may fail while building (a broken profile file)
        raise PaiSetupError(f"no Alibaba Cloud credentials: {_safe(exc)}; {HOW_TO}") from None


def _resolve(client: Any) -> Any:
    try:
        return client.get_credential()
    except Exception as exc:
        raise PaiSetupError(f"no Alibaba Cloud credentials found: {_safe(exc)}; {HOW_TO}") from None


def _safe(exc: BaseException) -> str:
    """The SDK's reason, cut short: its messages name providers and files, never secrets,
    but a long chain dump helps nobody."""
    text = " ".join(str(exc).split())
    return text[:300] + ("..." if len(text) > 300 else "")


def credential_source(client: Any) -> str:
    """Which link of the chain answered (e.g. ``env``, ``profile``, ``ecs_ram_role``): a name,
    never a key. Resolving it checks that credentials exist at all."""
    model = _resolve(client)
    return str(getattr(model, "provider_name", None) or getattr(model, "type", None) or "unknown")


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
