"""The consistency tokens of the gateway's callers: what each has seen, sent along.

Every write a service commits answers ``CRM-Consistency-Token``: per (owner, topic,
partition) the position of the last event it wrote (``crm_shared.consistency``). The
gateway keeps, per caller, the newest position of every entry it has seen in any answer
(:meth:`CallerTokens.record`) and sends the caller's whole token with each request
upstream (:meth:`CallerTokens.token_for`), so a service reading its copy of another
service's data waits until the copy has caught up with what this caller has done.

A caller is a staff member (``staff:<id>``, the token's subject): all their tabs and API
clients share what they have seen. Tokens live in Redis (one hash per caller, merged by a
script so concurrent answers never lower an entry), so any gateway replica serves the
next request; they expire ``CRM_GATEWAY_CONSISTENCY_TTL_SECONDS`` after the caller's last
write, far longer than any copy stays behind.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from crm_shared.auth import StaffClaims, decode_token
from crm_shared.consistency import Token

# Raise each field of the hash to the newer of stored and given "clock.seq" (compared as
# numbers, exact below 2^53), then renew the expiry. KEYS[1] the hash; ARGV: ttl, then
# field, clock, seq for each entry.
_MERGE = """
for i = 2, #ARGV, 3 do
  local clock, seq = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local old = redis.call('HGET', KEYS[1], ARGV[i])
  local newer = true
  if old then
    local dot = string.find(old, '.', 1, true)
    local old_clock = tonumber(string.sub(old, 1, dot - 1))
    local old_seq = tonumber(string.sub(old, dot + 1))
    newer = clock > old_clock or (clock == old_clock and seq > old_seq)
  end
  if newer then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1] .. '.' .. ARGV[i + 2])
  end
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
"""


def caller_of(staff: StaffClaims) -> str:
    """The caller a staff member's requests are remembered under."""
    return f"staff:{staff.staff_id}"


def caller_of_authorization(header: str | None, secret: str) -> str | None:
    """The caller of a request with this ``Authorization`` header, if it has a valid
    staff token."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        return caller_of(decode_token(token.strip(), secret))
    except Exception:
        return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class CallerTokens:
    """The newest token each caller has seen, in Redis."""

    def __init__(self, redis: Redis, *, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._merge: Any = redis.register_script(_MERGE)

    @staticmethod
    def _key(caller: str) -> str:
        return f"crm:consistency:{caller}"

    async def token_for(self, caller: str | None) -> Token:
        """The caller's token (empty for an unknown or anonymous caller)."""
        if caller is None:
            return Token()
        stored = await self._redis.hgetall(self._key(caller))
        return Token.parse(",".join(f"{_text(k)}={_text(v)}" for k, v in stored.items()))

    async def record(self, caller: str | None, token: Token) -> None:
        """Merge an answer's token into the caller's (newest position per entry wins)."""
        if caller is None or not token:
            return
        args: list[Any] = [self._ttl]
        for (owner, topic, partition), (clock, seq) in token.items():
            args += [f"{owner}/{topic}/{partition}", clock, seq]
        await self._merge(keys=[self._key(caller)], args=args)
