"""A bounded schemathesis run against the app's own OpenAPI schema, served by uvicorn on
127.0.0.1 with real PostgreSQL and Redis: no input makes it answer 5xx, and valid input gets
answers that match the schema. It holds a token with every scope, and limits that a run of
a few hundred requests does not reach."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
import uvicorn
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, CheckFunction, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from configs.config import Settings
from tests.support.api import TEST_TOKEN, bearer, build_app, clear_queue, record, store
from tests.support.polling import wait_for

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 30
POSITIVE_CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app under uvicorn in a thread of its own (its own event loop), on 127.0.0.1."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), 10, "uvicorn to start")
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


def fuzz(base_url: str) -> list[str]:
    """Every operation, with valid and with invalid data; returns what failed."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", headers=bearer(TEST_TOKEN))
    failures: list[str] = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"the schema is invalid: {result.err()}")
            continue
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                exercise(operation, mode, base_url)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to get wrong
            except Exception as error:  # noqa: BLE001 - collect every operation's failure
                failures.append(f"{operation.label} ({mode.value}): {error}")
    return failures


def exercise(
    operation: APIOperation[Any, Any, Any, Any], mode: GenerationMode, base_url: str
) -> None:
    checks: list[CheckFunction] = (
        POSITIVE_CHECKS if mode is GenerationMode.POSITIVE else [not_a_server_error]
    )

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=timedelta(seconds=10),
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case[Any]) -> None:
        response = case.call(base_url=base_url, headers=bearer(TEST_TOKEN), timeout=30)
        case.validate_response(response, checks=checks)

    run()


async def test_no_input_makes_the_api_fail(
    api_settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await store(sessions, [record(n) for n in range(1, 6)])
    unlimited = {"api_rate_per_minute": 100_000, "api_rate_burst": 100_000}
    fuzzed = Settings(**{**api_settings.model_dump(), **unlimited, "api_max_queued_runs": 10_000})
    try:
        with serving(build_app(fuzzed)) as base_url:
            failures = await asyncio.to_thread(fuzz, base_url)
    finally:
        await clear_queue(fuzzed)
    assert not failures, "\n\n".join(failures)
