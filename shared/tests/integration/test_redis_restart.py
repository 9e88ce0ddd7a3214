"""The services' Redis client after Redis restarts: the pooled connection the restart
broke is replaced and the command sent again, so no request fails on it afterwards."""

from __future__ import annotations

from pathlib import Path

from crm_dev.servers import RedisServer
from crm_shared.service import redis_client


async def test_a_command_after_a_redis_restart_goes_through(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", persist=True)
    server.start()
    client = redis_client(server.url)
    try:
        await client.set("crm:test:restart", "before")
        server.stop()
        server.start()  # the same port and data: the pooled connection is dead
        assert await client.get("crm:test:restart") == b"before"
    finally:
        await client.aclose()
        server.stop()
