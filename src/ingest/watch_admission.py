"""The door for watches: a watch from `tenders watch add` or the API (`POST /watches`,
`PATCH /watches/{id}`) is checked here, by this one function for both, before it is stored.
Its webhook URL must pass the policy that API-submitted sources pass (public hosts only), so
that no watch makes this server post to a loopback or private address, unless the operator
allows it (ALLOW_PRIVATE_WEBHOOKS). The sender checks every connection again."""

from __future__ import annotations

from configs.config import Settings
from src.domain.alerts.schemas import WatchSpec
from src.infra.source_policy import (
    NameLookupFailed,
    Resolver,
    check_source_async,
    system_resolver,
)

_SOURCES_SETTING = "ALLOW_PRIVATE_SOURCES"
_WEBHOOKS_SETTING = "ALLOW_PRIVATE_WEBHOOKS"


class WatchRefused(ValueError):  # noqa: N818 - a refusal, named as the caller reads it
    """The watch may not be stored; the message says why and what to give instead.
    `retry_later` when the refusal may pass later (a resolver that could not answer now)."""

    def __init__(self, message: str, *, retry_later: bool = False) -> None:
        super().__init__(message)
        self.retry_later = retry_later


def webhook_policy(settings: Settings) -> Settings:
    """The source policy's settings as they apply to webhook URLs."""
    return settings.model_copy(update={"allow_private_sources": settings.allow_private_webhooks})


async def admit_watch(
    spec: WatchSpec, settings: Settings, *, resolve: Resolver = system_resolver
) -> WatchSpec:
    """`spec` with its webhook URL normalised as the policy returns it (lowercase scheme and
    host, no default port, no fragment); raises WatchRefused. It resolves the host name."""
    if spec.webhook_url is None:
        return spec
    try:
        url = await check_source_async(spec.webhook_url, webhook_policy(settings), resolve=resolve)
    except NameLookupFailed as error:
        raise WatchRefused(f"webhook: {_hint(error)}", retry_later=True) from None
    except ValueError as error:  # SourceNotAllowed, or a URL that cannot be read at all
        raise WatchRefused(f"webhook: {_hint(error)}") from None
    return spec.model_copy(update={"webhook_url": url})


def _hint(error: BaseException) -> str:
    """The policy's words, naming the setting that opens it for webhooks."""
    return str(error).replace(_SOURCES_SETTING, _WEBHOOKS_SETTING)
