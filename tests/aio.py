"""Running a coroutine from a synchronous test."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor


def run_alone(coro):
    """asyncio.run in a thread of its own: another test (Playwright's sync API) may leave an event
    loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
