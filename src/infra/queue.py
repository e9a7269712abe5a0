"""arq plumbing shared by everything that enqueues (CLI, API, cron) and by the worker:
JSON job payloads (never pickle), Redis settings that never print a password, stable job ids."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import in_progress_key_prefix, job_key_prefix

from configs.config import Settings

INGEST_FUNCTION = "ingest_source"
CHUNK_FUNCTION = "ingest_chunk"
DISPATCH_FUNCTION = "dispatch_alerts"


class SafeRedisSettings(RedisSettings):
    """arq's RedisSettings prints its password in its repr; this one does not."""

    def __repr__(self) -> str:
        shown = {k: ("***" if k == "password" and v else v) for k, v in self.__dict__.items()}
        return "RedisSettings({})".format(", ".join(f"{k}={v!r}" for k, v in shown.items()))

    __str__ = __repr__


def redis_settings(settings: Settings, *, conn_retries: int = 10) -> SafeRedisSettings:
    """`conn_retries`: how many times (a second apart) arq tries to connect before it gives
    up; the CLI says 0 and answers at once (`tenders worker` keeps trying on its own)."""
    url = settings.require_redis_url()
    base = RedisSettings.from_dsn(url)
    safe = SafeRedisSettings(**base.__dict__)
    safe.conn_retries = conn_retries
    safe.conn_retry_delay = 1
    if safe.ssl:
        safe.ssl_cert_reqs = settings.redis_ssl_cert_reqs
        safe.ssl_ca_certs = settings.redis_ssl_ca_certs
        safe.ssl_certfile = settings.redis_ssl_certfile
        if settings.redis_ssl_keyfile is not None:
            safe.ssl_keyfile = settings.redis_ssl_keyfile.get_secret_value()
    return safe


def _json_default(value: object) -> object:
    # Exceptions and other objects in a job result are stored as text.
    return repr(value)


def serialize(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value, default=_json_default)


def deserialize(data: bytes) -> dict[str, Any]:
    """JSON only: a pickled payload fails here instead of being executed."""
    value = orjson.loads(data)
    if not isinstance(value, dict):
        raise ValueError("job payload is not a JSON object")
    return value


async def create_queue_pool(settings: Settings, *, conn_retries: int = 10) -> ArqRedis:
    return await create_pool(
        redis_settings(settings, conn_retries=conn_retries),
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=settings.queue_name,
    )


def ingest_job_id(
    queue_name: str, source: str, format_name: str | None, chunk: str | None = None
) -> str:
    """The same source (and format) gets the same job id on a queue, so arq refuses to queue
    it twice at once; keep_result=0 lets it be queued again as soon as it has finished.
    arq's job keys are global to a Redis database, hence the queue name in the id."""
    key = f"{queue_name}\0{source}\0{format_name or ''}\0{chunk or ''}".encode()
    return "ingest:" + hashlib.sha256(key).hexdigest()[:32]


def dispatch_job_id(queue_name: str) -> str:
    """One alert dispatcher queued at a time per queue: enqueues while it is queued collapse
    into it."""
    return f"alerts:dispatch:{queue_name}"


async def job_in_redis(redis: ArqRedis, job_id: str) -> bool:
    """Whether Redis still knows the job (queued, deferred or running)."""
    return bool(await redis.exists(job_key_prefix + job_id, in_progress_key_prefix + job_id))
