"""Watches: made, changed, listed, found, paused, resumed and removed. `owner` is the API token that
made a watch ("operator" for the CLI); a token sees its own watches only, the CLI (owner
None here) sees every one."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from src.domain.alerts.entities import Delivery, Watch, WatchKey
from src.domain.alerts.schemas import WatchSpec

OPERATOR = "operator"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


class WatchNotFoundError(LookupError):
    """No watch of that name or id (for this owner)."""


class WatchExistsError(ValueError):
    """A watch of that name exists already (for this owner)."""


class WatchService:
    @staticmethod
    async def create(session: AsyncSession, spec: WatchSpec, *, owner: str) -> Watch:
        """The new watch, with a fresh secret (`watch.secret`: show it once)."""
        watch = Watch(
            id=uuid.uuid4(),
            owner=owner,
            secret=SECRET_PREFIX + secrets.token_urlsafe(32),
            **spec.model_dump(),
        )
        session.add(watch)
        try:
            await session.flush()
        except IntegrityError as error:
            raise WatchExistsError(f"a watch named {spec.name!r} exists already") from error
        session.add_all(WatchKey(key=key, watch_id=watch.id) for key in spec.index_keys())
        await session.flush()
        await session.refresh(watch)
        return watch

    @staticmethod
    async def update(session: AsyncSession, watch: Watch, spec: WatchSpec) -> Watch:
        """The watch (loaded in `session`) made as `spec` says, its index entries rewritten
        for its new filters; the secret, the state and the deliveries stay."""
        for name, value in spec.model_dump().items():
            setattr(watch, name, value)
        try:
            await session.flush()
        except IntegrityError as error:
            raise WatchExistsError(f"a watch named {spec.name!r} exists already") from error
        await session.execute(delete(WatchKey).where(WatchKey.watch_id == watch.id))
        session.add_all(WatchKey(key=key, watch_id=watch.id) for key in spec.index_keys())
        await session.flush()
        await session.refresh(watch)
        return watch

    @staticmethod
    def spec(watch: Watch) -> WatchSpec:
        """The watch's description as `create` took it: change some of it, then `update`."""
        return WatchSpec.model_validate(
            {name: getattr(watch, name) for name in WatchSpec.model_fields}
        )

    @staticmethod
    async def list(session: AsyncSession, *, owner: str | None = None) -> Sequence[Watch]:
        query = select(Watch).order_by(Watch.owner, Watch.name)
        if owner is not None:
            query = query.where(Watch.owner == owner)
        return (await session.scalars(query)).all()

    @staticmethod
    async def get(session: AsyncSession, name_or_id: str, *, owner: str | None = None) -> Watch:
        """By id, else by name (the CLI's names are unique per owner: an ambiguous name
        across owners is refused, name the id)."""
        query = select(Watch)
        try:
            query = query.where(Watch.id == uuid.UUID(name_or_id))
        except ValueError:
            query = query.where(Watch.name == name_or_id.strip())
        if owner is not None:
            query = query.where(Watch.owner == owner)
        found = (await session.scalars(query.limit(2))).all()
        if not found:
            raise WatchNotFoundError(f"no watch {name_or_id!r}")
        if len(found) > 1:
            raise WatchNotFoundError(f"several watches are named {name_or_id!r}: name one by id")
        return found[0]

    @staticmethod
    async def remove(session: AsyncSession, watch: Watch) -> None:
        """The watch, its deliveries and its pending deadline events go with it."""
        await session.execute(delete(Watch).where(Watch.id == watch.id))

    @staticmethod
    async def pause(session: AsyncSession, watch: Watch, reason: str) -> None:
        """Nothing is sent while paused; events still collect, and are sent on resume."""
        await session.execute(
            update(Watch)
            .where(Watch.id == watch.id)
            .values(paused_at=datetime.now(UTC), paused_reason=reason)
        )

    @staticmethod
    async def resume(session: AsyncSession, watch: Watch) -> int:
        """Unpause; what failed or waited while paused is due again. Returns how many."""
        await session.execute(
            update(Watch)
            .where(Watch.id == watch.id)
            .values(paused_at=None, paused_reason=None, consecutive_failures=0)
        )
        result = await session.execute(
            update(Delivery)
            .where(Delivery.watch_id == watch.id, Delivery.status.in_(("pending", "failed")))
            .values(status="pending", next_attempt_at=datetime.now(UTC), attempts=0)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
