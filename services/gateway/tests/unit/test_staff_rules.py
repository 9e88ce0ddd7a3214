"""The gateway's staff rules on SQLite, without servers (the fast lane): usernames, the
last active admin, roles, sign-in, competences."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import ValidationError

from crm_dev.rules import emitted
from crm_dev.testing import RulesDb
from crm_gateway import service as staff_rules
from crm_gateway.main import MIGRATIONS
from crm_gateway.schemas import CompetenceCreate, CompetenceUpdate, StaffCreate, StaffUpdate
from crm_gateway.service import StaffService
from crm_gateway.settings import Settings
from crm_shared.auth import StaffClaims, Unauthorized, decode_token
from crm_shared.db import Database
from crm_shared.errors import Conflict, NotFound, Problem
from crm_shared.outbox import Outbox

OUTBOX = Outbox("/crm/gateway")
SETTINGS = Settings(admin_username="admin", admin_password="admin-pw")


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rules, not argon2's cost: the same hasher with the least work and memory."""
    cheap = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),))
    monkeypatch.setattr(staff_rules, "passwords", cheap)


@contextlib.asynccontextmanager
async def staff_service(db: Database) -> AsyncIterator[StaffService]:
    """The service in a unit of work of its own, as a request runs it."""
    async with db.unit_of_work() as session:
        yield StaffService(session, OUTBOX, SETTINGS)


def member(username: str | None = None, **fields: Any) -> StaffCreate:
    body: dict[str, Any] = {
        "username": username or f"s{uuid.uuid4().hex[:8]}",
        "password": "geheim-123",
        "name": "Bernd Berater",
    }
    return StaffCreate(**(body | fields))


async def test_a_username_is_taken_once_as_written_and_case_counts(rules_db: RulesDb) -> None:
    db = await rules_db(MIGRATIONS)
    async with staff_service(db) as service:
        anna = await service.create(member("anna"))
    with pytest.raises(Conflict) as taken:
        async with staff_service(db) as service:
            await service.create(member("anna"))
    assert (taken.value.status, taken.value.extra["field"]) == (409, "username")
    async with staff_service(db) as service:  # another case is another username (today)
        other = await service.create(member("Anna"))
    assert other.id != anna.id
    async with staff_service(db) as service:
        await service.login("anna", "geheim-123")
        with pytest.raises(Unauthorized):
            await service.login("ANNA", "geheim-123")
    created = [e.data["username"] for e in await emitted(db, "StaffCreated")]  # type: ignore[index]
    assert created == ["anna", "Anna"]


async def test_the_last_active_admin_keeps_the_role_and_stays_active(rules_db: RulesDb) -> None:
    db = await rules_db(MIGRATIONS)
    async with staff_service(db) as service:
        first = await service.create(member(roles=["admin"]))
        second = await service.create(member(roles=["admin", "crm_user"]))
        await service.create(member(roles=["crm_user"]))
    async with staff_service(db) as service:  # another active admin remains: allowed
        await service.update(second.id, StaffUpdate(roles=["crm_user"]))
    for change in (StaffUpdate(roles=["crm_user"]), StaffUpdate(active=False)):
        with pytest.raises(Conflict) as refused:
            async with staff_service(db) as service:
                await service.update(first.id, change)
        assert (refused.value.status, refused.value.extra["code"]) == (409, "last_admin")
    async with staff_service(db) as service:  # unchanged: still the admin, still active
        page = await service.page()
    [kept] = [s for s in page.items if s.id == first.id]
    assert (kept.roles, kept.active) == (["admin"], True)
    async with staff_service(db) as service:  # with a second admin again, it may go
        await service.update(second.id, StaffUpdate(roles=["admin"]))
        await service.update(first.id, StaffUpdate(active=False))
    updated = await emitted(db, "StaffUpdated")
    assert [e.subject for e in updated] == [second.id, second.id, first.id]


async def test_roles_are_checked_and_kept_once(rules_db: RulesDb) -> None:
    with pytest.raises(ValidationError):
        member(roles=["superuser"])
    with pytest.raises(ValidationError):
        StaffUpdate(roles=[])
    with pytest.raises(ValidationError):
        StaffUpdate(roles=None)
    assert member().roles == ["crm_user"]  # the default
    db = await rules_db(MIGRATIONS)
    async with staff_service(db) as service:
        staff = await service.create(member(roles=["crm_user"]))
    async with staff_service(db) as service:
        changed = await service.update(staff.id, StaffUpdate(roles=["admin", "admin", "crm_user"]))
    assert changed.roles == ["admin", "crm_user"]
    async with staff_service(db) as service:  # nothing changed: no event
        await service.update(staff.id, StaffUpdate(roles=["admin", "crm_user"]))
    assert len(await emitted(db, "StaffUpdated")) == 1


async def test_sign_in_needs_the_password_and_an_active_staff_member(rules_db: RulesDb) -> None:
    db = await rules_db(MIGRATIONS)
    async with staff_service(db) as service:
        staff = await service.create(member("bernd", language="en", email="b@firma.example"))
    async with staff_service(db) as service:
        token, ttl = await service.login("bernd", "geheim-123")
        with pytest.raises(Unauthorized):
            await service.login("bernd", "falsch-123")
        with pytest.raises(Unauthorized):
            await service.login("niemand", "geheim-123")
    claims = decode_token(token, SETTINGS.jwt_secret)
    assert (claims.staff_id, claims.language, claims.email) == (staff.id, "en", "b@firma.example")
    assert ttl == SETTINGS.token_ttl_minutes * 60
    async with staff_service(db) as service:
        await service.update(staff.id, StaffUpdate(password="neu-geheim-1", active=False))
    async with staff_service(db) as service:
        with pytest.raises(Unauthorized):
            await service.login("bernd", "neu-geheim-1")
        with pytest.raises(Unauthorized):  # a token issued before no longer reads /api/me
            await service.signed_in(claims)
        with pytest.raises(NotFound):
            await service.update(str(uuid.uuid4()), StaffUpdate(name="x"))


async def test_the_first_admin_is_created_once_and_announced(rules_db: RulesDb) -> None:
    db = await rules_db(MIGRATIONS)
    for _ in range(2):
        async with staff_service(db) as service:
            await service.ensure_admin()
    [created] = await emitted(db, "StaffCreated")
    assert created.data["username"] == "admin"  # type: ignore[index]
    assert created.data["roles"] == ["admin", "crm_user"]  # type: ignore[index]
    async with staff_service(db) as service:
        token, _ = await service.login("admin", "admin-pw")
    assert isinstance(decode_token(token, SETTINGS.jwt_secret), StaffClaims)


async def test_competences_have_unique_names_and_known_members(rules_db: RulesDb) -> None:
    db = await rules_db(MIGRATIONS)
    async with staff_service(db) as service:
        one = await service.create(member())
        two = await service.create(member())
        sales = await service.create_competence(
            CompetenceCreate(name="Vertrieb", member_ids=[one.id, one.id])
        )
    assert sales.member_ids == [one.id]
    with pytest.raises(Conflict):
        async with staff_service(db) as service:
            await service.create_competence(CompetenceCreate(name="Vertrieb"))
    with pytest.raises(Problem) as unknown:
        async with staff_service(db) as service:
            await service.update_competence(
                sales.id, CompetenceUpdate(member_ids=[two.id, "nobody"])
            )
    assert unknown.value.status == 422
    assert unknown.value.errors and unknown.value.errors[0]["field"] == "member_ids"
    async with staff_service(db) as service:
        await service.update_competence(sales.id, CompetenceUpdate(member_ids=[two.id, one.id]))
        await service.update_competence(sales.id, CompetenceUpdate(name="Vertrieb"))  # same
        page = await service.competence_page()
    assert [(c.name, c.member_ids) for c in page.items] == [("Vertrieb", [two.id, one.id])]
    changes = [e.data["member_ids"] for e in await emitted(db, "CompetenceChanged")]  # type: ignore[index]
    assert changes == [[one.id], [two.id, one.id]]
