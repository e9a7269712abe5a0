"""What a bench run works on: the servers, a migrated template database and the copies of it
that the cases use, and the generated sources (cached: the generator is deterministic)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import psutil

from tests.benchmarks import project
from tests.benchmarks.measure import log
from tests.support import big_documents, generators
from tests.support.servers import Servers, admin, copy_database, drop_database

GENERATOR_VERSION = 1  # bump when the generator changes what it writes: cached files are renamed


# --- databases -------------------------------------------------------------------------------


@dataclass
class Databases:
    """One migrated template per run; every case gets a copy of it, dropped afterwards."""

    servers: Servers
    prefix: str = field(default_factory=lambda: f"tenders_bench_{uuid.uuid4().hex[:8]}")
    template: str = ""
    created: list[str] = field(default_factory=list)

    async def migrate_template(self) -> None:
        self.template = f"{self.prefix}_tpl"
        await admin(self.servers, f'CREATE DATABASE "{self.template}"')
        self.created.append(self.template)
        await project.migrate(self.servers.database(self.template))

    @contextlib.asynccontextmanager
    async def fresh(self) -> AsyncIterator[str]:
        name = await copy_database(self.servers, self.template, prefix=self.prefix)
        self.created.append(name)
        try:
            yield self.servers.database(name)
        finally:
            await self.drop(name)

    async def drop(self, name: str) -> None:
        await drop_database(self.servers, name)
        if name in self.created:
            self.created.remove(name)

    async def drop_all(self) -> None:
        for name in list(self.created):
            with contextlib.suppress(Exception):
                await self.drop(name)


async def server_info(servers: Servers) -> dict[str, Any]:
    connection = await asyncpg.connect(servers.admin_dsn())
    try:
        version = await connection.fetchval("SHOW server_version")
        postmaster = local_postmaster(await connection.fetchval("SELECT pg_backend_pid()"))
        settings = {
            name: await connection.fetchval(f"SHOW {name}")
            for name in ("shared_buffers", "synchronous_commit", "fsync", "max_wal_size")
        }
    finally:
        await connection.close()
    return {
        "kind": servers.kind,
        "postgres": version,
        "postgres_settings": settings,
        "postgres_url": project.redact_url(servers.database_url),
        "postmaster_pid": postmaster,
        "redis": await project.redis_version(servers.redis_url),
        "redis_url": project.redact_url(servers.redis_url),
    }


def local_postmaster(backend_pid: int) -> int | None:
    """The pid of the PostgreSQL server when it runs on this machine (its CPU time is then
    measured): the parent of our backend; None for a server elsewhere."""
    try:
        process = psutil.Process(backend_pid)
        if process.name() != "postgres":
            return None
        return process.ppid()
    except psutil.Error:
        return None


# --- sources ---------------------------------------------------------------------------------


@dataclass
class Source:
    path: Path
    tenders: int
    procedures: int
    bytes: int
    changed_tenders: int


def make_source(
    work: Path,
    *,
    tenders: int | None = None,
    max_bytes: int | None = None,
    seed: int,
    change_fraction: float = 0.0,
) -> Source:
    size = f"t{tenders}" if tenders is not None else f"b{max_bytes}"
    name = f"anac-v{GENERATOR_VERSION}-s{seed}-{size}-c{change_fraction:g}.jsonl"
    path = work / name
    meta = path.with_name(name + ".meta.json")
    if path.exists() and meta.exists():
        return Source(path=path, **orjson.loads(meta.read_bytes()))
    log(f"generating {path.name}")
    stats = generators.write(
        path, tenders=tenders, max_bytes=max_bytes, seed=seed, change_fraction=change_fraction
    )
    info = {
        "tenders": stats.tenders,
        "procedures": stats.procedures,
        "bytes": stats.bytes,
        "changed_tenders": stats.changed_tenders,
    }
    meta.write_bytes(orjson.dumps(info))
    return Source(path=path, **info)


def make_many_lots_source(work: Path, lots: int) -> Source:
    """One OCDS compiled release of `lots` lots, as one JSON line: what a procedure of many
    lots costs to map (each lot its CPV item and its award)."""
    path = work / f"many-lots-v{GENERATOR_VERSION}-{lots}.jsonl"
    if not path.exists():
        path.write_bytes(orjson.dumps(big_documents.release_with_lots(lots)) + b"\n")
    return Source(path, tenders=lots, procedures=1, bytes=path.stat().st_size, changed_tenders=0)


def make_shared_awards_source(work: Path, lots: int, awards: int) -> Source:
    """One OCDS compiled release of `lots` lots whose `awards` awards each name every lot:
    what a framework of many suppliers costs to map (each lot totals every award)."""
    path = work / f"shared-awards-v{GENERATOR_VERSION}-{lots}x{awards}.jsonl"
    if not path.exists():
        release = big_documents.release_with_shared_awards(lots, awards)
        path.write_bytes(orjson.dumps(release) + b"\n")
    return Source(path, tenders=lots, procedures=1, bytes=path.stat().st_size, changed_tenders=0)
