"""The real HTTP test server of ``tests/httpserver.py`` and its ``http_server`` fixture."""

from __future__ import annotations

import httpx


async def test_fixture_serves_on_localhost(http_server: str) -> None:
    assert http_server.startswith("http://127.0.0.1:")
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{http_server}/uuid")
    assert response.status_code == 200
