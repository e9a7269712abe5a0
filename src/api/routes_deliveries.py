"""Alert deliveries over HTTP: `POST /watches/{id}/test` sends a sample event to a watch's
target now. A token sees its own watches only: another's is answered 404, as a missing one."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs.config import Settings
from src.api.auth import AUTH_RESPONSES, Principal, require_write
from src.api.deps import get_resolver, get_session_factory, get_settings
from src.api.routes_watches import owned_watch
from src.api.schemas import ErrorMessage
from src.domain.alerts.entities import Watch
from src.infra.source_policy import Resolver
from src.ingest.alerts.send import open_senders, send_test_event

log = logging.getLogger("tenders.api")
router = APIRouter(tags=["watches"], responses=AUTH_RESPONSES)
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorMessage, "description": "No watch of this token has that id."}
}


class WatchTestOut(BaseModel):
    """How the sample event went: `sent` when the target took it (webhook 2xx, mail server
    accepted); else `error` says why. `response_code`: the HTTP status or SMTP reply."""

    watch_id: uuid.UUID
    target: Literal["webhook", "email"]
    sent: bool
    response_code: int | None
    error: str | None


async def own_watch(
    sessions: async_sessionmaker[AsyncSession], watch_id: uuid.UUID, caller: Principal
) -> Watch:
    """The caller's watch of that id (a short session: nothing is held while sending)."""
    async with sessions() as session:
        return await owned_watch(session, watch_id, caller)


@router.post(
    "/watches/{watch_id}/test",
    response_model=WatchTestOut,
    responses=NOT_FOUND,
    summary="Send a sample event to a watch's target now",
)
async def test_watch(
    watch_id: uuid.UUID,
    caller: Annotated[Principal, Depends(require_write)],
    settings: Annotated[Settings, Depends(get_settings)],
    resolve: Annotated[Resolver, Depends(get_resolver)],
    sessions: Annotated[async_sessionmaker[AsyncSession], Depends(get_session_factory)],
) -> WatchTestOut:
    """A made-up tender in an event of the first kind the watch wants, marked `"test":
    true`, signed as every delivery is, sent at once (paused or not) and stored nowhere.
    The answer says whether the target took it; it is 200 either way."""
    watch = await own_watch(sessions, watch_id, caller)
    async with open_senders(settings, resolve=resolve) as senders:
        outcome = await send_test_event(senders, watch)
    log.info("%s sent a test event to watch %s: %s", caller.name, watch.name, outcome.describe())
    return WatchTestOut(
        watch_id=watch.id,
        target="webhook" if watch.webhook_url else "email",
        sent=outcome.sent,
        response_code=outcome.response_code,
        error=outcome.error,
    )
