"""The live side of a notification: published on the Redis channel
``crm:notifications:<staff_id>`` once stored, which every gateway replica relays to that
staff member's stream (server-sent events)."""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from crm_notifier.schemas import NotificationPublic

CHANNEL = "crm:notifications:{staff_id}"


def channel(staff_id: str) -> str:
    return CHANNEL.format(staff_id=staff_id)


class LiveChannels:
    """Publishes notifications to their staff members' channels (one round trip)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def publish(self, notifications: Sequence[NotificationPublic]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for notification in notifications:
                pipe.publish(channel(notification.staff_id), notification.model_dump_json())
            await pipe.execute()
