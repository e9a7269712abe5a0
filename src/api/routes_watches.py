"""Watches over HTTP: saved searches whose alerts go to a webhook or an email address, and
what they were sent. A watch belongs to the token that made it (its name): a token sees and
changes its own watches only, and another's id is answered 404, as one that does not exist.
Reading needs the `read` scope; making, changing, removing and replaying need `write`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from arq.connections import ArqRedis
from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs.config import Settings
from src.api.auth import AUTH_RESPONSES, Principal, require_read, require_write
from src.api.deps import get_db, get_queue, get_resolver, get_session_factory, get_settings
from src.api.params import invalid
from src.api.schemas import ErrorMessage
from src.api.watch_schemas import (
    DeliveryCounts,
    DeliveryOut,
    DeliveryPage,
    ReplayAccepted,
    ReplayRequest,
    WatchChanged,
    WatchCreated,
    WatchList,
    WatchOut,
    WatchPatch,
)
from src.domain.alerts.entities import Watch
from src.domain.alerts.schemas import WatchSpec
from src.domain.alerts.services.deliveries import counts_by_watch, list_deliveries
from src.domain.alerts.services.watches import WatchExistsError, WatchNotFoundError, WatchService
from src.infra.source_policy import Resolver
from src.ingest.watch_actions import WatchChange, change_watch, replay_watch
from src.ingest.watch_admission import WatchRefused, admit_watch

router = APIRouter(tags=["watches"], responses=AUTH_RESPONSES)

Reader = Annotated[Principal, Depends(require_read)]
Writer = Annotated[Principal, Depends(require_write)]
Db = Annotated[AsyncSession, Depends(get_db)]
Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(get_session_factory)]
Queue = Annotated[ArqRedis, Depends(get_queue)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorMessage, "description": "No watch of this token has this id."}
}
TAKEN: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorMessage, "description": "This token has a watch of that name already."}
}
RESOLVER_DOWN: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorMessage, "description": "The webhook's host could not be resolved now."}
}


def watch_out(watch: Watch, counts: dict[str, int]) -> dict[str, Any]:
    """A watch's answer (never its secret): its fields, paused or not, its deliveries."""
    computed = {"paused": watch.paused_at is not None, "deliveries": DeliveryCounts(**counts)}
    return {
        name: computed[name] if name in computed else getattr(watch, name)
        for name in WatchOut.model_fields
    }


async def _answer(session: AsyncSession, watch: Watch) -> dict[str, Any]:
    counts = (await counts_by_watch(session, [watch.id]))[watch.id]
    return watch_out(watch, counts)


async def owned_watch(session: AsyncSession, watch_id: uuid.UUID, caller: Principal) -> Watch:
    """The caller's watch of that id, or a 404 (another token's watch is not found)."""
    try:
        return await WatchService.get(session, str(watch_id), owner=caller.name)
    except WatchNotFoundError:
        raise HTTPException(404, f"no watch has id {watch_id}") from None


async def _admitted(spec: WatchSpec, settings: Settings, resolve: Resolver) -> WatchSpec:
    """The watch through the door (`src.ingest.watch_admission`): 422, or 503 to retry."""
    try:
        return await admit_watch(spec, settings, resolve=resolve)
    except WatchRefused as refused:
        if refused.retry_later:
            raise HTTPException(503, str(refused)) from None
        invalid(("body", "webhook_url"), str(refused), spec.webhook_url)


@router.post(
    "/watches",
    status_code=201,
    response_model=WatchCreated,
    responses={**TAKEN, **RESOLVER_DOWN},
    summary="Save a watch",
)
async def create_watch(
    body: WatchSpec,
    response: Response,
    caller: Writer,
    settings: Annotated[Settings, Depends(get_settings)],
    resolve: Annotated[Resolver, Depends(get_resolver)],
    sessions: Sessions,
) -> dict[str, Any]:
    """Tenders matching every filter given, the events wanted (`new`, `changed`,
    `deadline_near`), and one target: a webhook URL (a public host) or an email address.
    The answer holds the watch's `secret`, which no other answer shows."""
    spec = await _admitted(body, settings, resolve)
    async with sessions() as session, session.begin():
        try:
            watch = await WatchService.create(session, spec, owner=caller.name)
        except WatchExistsError as error:
            raise HTTPException(409, str(error)) from None
    response.headers["Location"] = f"/watches/{watch.id}"
    return {**watch_out(watch, {}), "secret": watch.secret}


@router.get("/watches", response_model=WatchList, summary="This token's watches")
async def list_watches(caller: Reader, db: Db) -> WatchList:
    watches = await WatchService.list(db, owner=caller.name)
    counts = await counts_by_watch(db, [watch.id for watch in watches])
    return WatchList.model_validate(
        {"items": [watch_out(watch, counts[watch.id]) for watch in watches]}
    )


@router.get(
    "/watches/{watch_id}", response_model=WatchOut, responses=NOT_FOUND, summary="One watch"
)
async def get_watch(watch_id: uuid.UUID, caller: Reader, db: Db) -> dict[str, Any]:
    return await _answer(db, await owned_watch(db, watch_id, caller))


def _merged(watch: Watch, changes: dict[str, Any]) -> WatchSpec:
    """The watch as it would be: every rule of a new one holds (422 otherwise)."""
    try:
        return WatchSpec.model_validate({**WatchService.spec(watch).model_dump(), **changes})
    except ValidationError as error:
        problems = error.errors(include_url=False, include_context=False, include_input=False)
        for problem in problems:
            problem["loc"] = ("body", *problem["loc"])
        raise RequestValidationError(problems) from None


@router.patch(
    "/watches/{watch_id}",
    response_model=WatchChanged,
    responses={**NOT_FOUND, **TAKEN, **RESOLVER_DOWN},
    summary="Change, pause or resume a watch",
)
async def patch_watch(
    watch_id: uuid.UUID,
    body: WatchPatch,
    caller: Writer,
    settings: Annotated[Settings, Depends(get_settings)],
    resolve: Annotated[Resolver, Depends(get_resolver)],
    sessions: Sessions,
    queue: Queue,
) -> dict[str, Any]:
    """Fields left out stay as they are. `{"paused": true, "reason": "…"}` pauses it
    (events still collect); `{"paused": false}` resumes it: what failed or waited while
    paused is due again (`due_again`) and is sent now."""
    spec = None
    changes = body.description_changes()
    if changes:
        async with sessions() as session:
            watch = await owned_watch(session, watch_id, caller)
        spec = _merged(watch, changes)
        if spec.webhook_url is not None and spec.webhook_url != watch.webhook_url:
            spec = await _admitted(spec, settings, resolve)
    change = WatchChange(spec=spec, paused=body.paused, reason=body.reason)
    try:
        changed = await change_watch(queue, sessions, str(watch_id), change, owner=caller.name)
    except WatchNotFoundError:
        raise HTTPException(404, f"no watch has id {watch_id}") from None
    except WatchExistsError as error:
        raise HTTPException(409, str(error)) from None
    async with sessions() as session:
        answer = await _answer(session, changed.watch)
    return {**answer, "due_again": changed.due_again}


@router.delete(
    "/watches/{watch_id}",
    status_code=204,
    response_class=Response,
    responses=NOT_FOUND,
    summary="Remove a watch and its deliveries",
)
async def delete_watch(watch_id: uuid.UUID, caller: Writer, sessions: Sessions) -> Response:
    async with sessions() as session, session.begin():
        await WatchService.remove(session, await owned_watch(session, watch_id, caller))
    return Response(status_code=204)


@router.get(
    "/watches/{watch_id}/deliveries",
    response_model=DeliveryPage,
    responses=NOT_FOUND,
    summary="What a watch was sent, newest first",
)
async def get_deliveries(
    watch_id: uuid.UUID,
    caller: Reader,
    db: Db,
    failed: Annotated[
        bool, Query(description="Only those that failed, or whose last attempt did.")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveryPage:
    watch = await owned_watch(db, watch_id, caller)
    rows = await list_deliveries(db, watch_ids=[watch.id], failed=failed, limit=limit)
    return DeliveryPage(watch_id=watch.id, items=[DeliveryOut.model_validate(r) for r in rows])


@router.post(
    "/watches/{watch_id}/replay",
    status_code=202,
    response_model=ReplayAccepted,
    responses=NOT_FOUND,
    summary="Send again what a watch was sent since a moment",
)
async def replay(
    watch_id: uuid.UUID, body: ReplayRequest, caller: Writer, sessions: Sessions, queue: Queue
) -> ReplayAccepted:
    """The events of the watch since `since` are queued again, marked as replays, with
    the same event ids (a receiver that drops duplicates by id keeps dropping them)."""
    try:
        replayed = await replay_watch(queue, sessions, str(watch_id), body.since, owner=caller.name)
    except WatchNotFoundError:
        raise HTTPException(404, f"no watch has id {watch_id}") from None
    return ReplayAccepted(
        watch_id=replayed.watch.id, queued=replayed.queued, dispatched=replayed.dispatched
    )
