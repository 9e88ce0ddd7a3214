"""The gateway's staff rules on SQLite, without servers (the fast lane): usernames, the
last active admin, roles, sign-in, competences."""

from __future__ import annotations

import contextlib
import importlib.util
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock

import pytest
import sqlalchemy as sa
from alembic import command
from gateway_support import MemoryWindows
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from crm_dev.rules import emitted
from crm_dev.testing import RulesDb
from crm_gateway import service as staff_rules
from crm_gateway.limits import LoginLimits, TooManyRequests
from crm_gateway.main import MIGRATIONS
from crm_gateway.models import Staff
from crm_gateway.schemas import CompetenceCreate, CompetenceUpdate, StaffCreate, StaffUpdate
from crm_gateway.service import StaffService
from crm_gateway.settings import Settings
from crm_shared.auth import StaffClaims, Unauthorized, decode_token
from crm_shared.db import Database
from crm_shared.errors import Conflict, NotFound, Problem
from crm_shared.fields import input_error
from crm_shared.migrations import alembic_config
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


async def test_a_username_is_taken_once_without_regard_to_case(rules_db: RulesDb) -> None:
    db = await rules_db(MIGRATIONS)
    async with staff_service(db) as service:
        anna = await service.create(member("anna"))
    for taken_name in ("anna", "Anna", "ANNA"):
        with pytest.raises(Conflict) as taken:
            async with staff_service(db) as service:
                await service.create(member(taken_name))
        assert (taken.value.status, taken.value.extra["field"]) == (409, "username")
    async with staff_service(db) as service:  # signs in in any case, as the one anna
        for written in ("anna", "ANNA", "aNnA"):
            token, _ = await service.login(written, "geheim-123")
            assert decode_token(token, SETTINGS.jwt_secret).staff_id == anna.id
    created = [e.data["username"] for e in await emitted(db, "StaffCreated")]  # type: ignore[index]
    assert created == ["anna"]


async def test_the_database_refuses_a_username_differing_only_in_case(rules_db: RulesDb) -> None:
    """The unique index on lower(username) holds even past the service's own check (two
    requests at the same moment): the second is a 409, not a 500."""
    db = await rules_db(MIGRATIONS)
    async with staff_service(db) as service:
        await service.create(member("bernd"))
    with pytest.raises(IntegrityError):
        async with db.unit_of_work() as session:
            session.add(Staff(username="BERND", password_hash="x", name="Bernd"))
    with pytest.raises(Conflict):
        async with staff_service(db) as service:
            service._repo.by_username = AsyncMock(return_value=None)  # type: ignore[method-assign]
            await service.create(member("Bernd"))


def test_the_migration_renames_usernames_differing_only_in_case() -> None:
    """Existing ``ADMIN`` beside ``admin``: the oldest keeps its name, later ones get the
    first free ``-N``."""
    migration = _migration("usernames_unique_without_regard_to_case")
    rows = [("1", "admin"), ("2", "ADMIN"), ("3", "Admin"), ("4", "admin-2"), ("5", "x")]
    assert migration.renamed_duplicates(rows) == {"2": "ADMIN-3", "3": "Admin-4"}
    long = "a" * 100
    assert migration.renamed_duplicates([("1", long), ("2", long.upper())]) == {
        "2": "A" * 98 + "-2"
    }


async def test_the_migration_runs_over_duplicates(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/gateway.db")
    cfg = alembic_config(MIGRATIONS, db.url)
    before = _migration("usernames_unique_without_regard_to_case").down_revision

    async def upgrade_to(revision: str) -> None:
        def run(connection: Any) -> None:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)

        async with db.engine.begin() as conn:
            await conn.run_sync(run)

    try:
        await upgrade_to(before)
        async with db.engine.begin() as conn:
            for n, username in enumerate(["anna", "ANNA", "bernd"]):
                await conn.execute(
                    sa.text(
                        "INSERT INTO staff (id, username, password_hash, name, roles, language,"
                        " active, created_at) VALUES (:id, :u, 'x', 'n', '[]', 'de', true, :at)"
                    ),
                    {"id": str(n), "u": username, "at": f"2026-01-0{n + 1} 00:00:00"},
                )
        await upgrade_to("head")
        async with db.engine.begin() as conn:
            rows = (await conn.execute(sa.text("SELECT id, username FROM staff"))).all()
        assert sorted(map(tuple, rows)) == [("0", "anna"), ("1", "ANNA-2"), ("2", "bernd")]
        with pytest.raises(IntegrityError):
            async with db.engine.begin() as conn:
                await conn.execute(
                    sa.text(
                        "INSERT INTO staff (id, username, password_hash, name, roles, language,"
                        " active, created_at) VALUES ('9', 'Bernd', 'x', 'n', '[]', 'de', true,"
                        " '2026-02-01 00:00:00')"
                    )
                )
    finally:
        await db.dispose()


def _migration(slug: str) -> Any:
    [path] = (MIGRATIONS / "versions").glob(f"*_{slug}.py")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
        page = await service.page(None, 500)
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
        page = await service.competence_page(None, 500)
    assert [(c.name, c.member_ids) for c in page.items] == [("Vertrieb", [two.id, one.id])]
    changes = [e.data["member_ids"] for e in await emitted(db, "CompetenceChanged")]  # type: ignore[index]
    assert changes == [[one.id], [two.id, one.id]]


async def test_staff_and_competences_come_a_page_at_a_time(rules_db: RulesDb) -> None:
    db = await rules_db(MIGRATIONS)
    async with staff_service(db) as service:
        await service.ensure_admin()
        for n in range(5):
            staff = await service.create(member(name=f"Bernd {n}"))
            await service.create_competence(CompetenceCreate(name=f"K{n}", member_ids=[staff.id]))
    for page_of, limit in ((StaffService.page, 2), (StaffService.competence_page, 3)):
        seen: list[str] = []
        cursor = None
        while True:
            async with staff_service(db) as service:
                page = await page_of(service, cursor, limit)
            assert len(page.items) <= limit
            seen += [item.name for item in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == sorted(seen) and len(seen) == len(set(seen)) >= 5
    with pytest.raises(Problem) as bad:
        async with staff_service(db) as service:
            await service.page("not-a-cursor", 2)
    assert bad.value.status == 422


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "Bernd\x00"},
        {"name": "Bernd\nBerater"},
        {"initials": "B\x1b"},
        {"email": "b\x00@firma.example"},
    ],
)
def test_control_characters_are_refused_in_staff_members(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError) as refused:
        member(**fields)
    assert {input_error(e)[0] for e in refused.value.errors()} == {"control_character"}
    with pytest.raises(ValidationError):
        StaffUpdate(**fields)


def test_control_characters_are_refused_in_competence_names() -> None:
    for bad in ("Vertrieb\x00", "Ver\ttrieb"):
        with pytest.raises(ValidationError):
            CompetenceCreate(name=bad)
        with pytest.raises(ValidationError):
            CompetenceUpdate(name=bad)


async def test_a_nul_in_an_id_or_name_finds_nothing(rules_db: RulesDb) -> None:
    """PostgreSQL cannot hold a NUL in text and refuses a query with one: such an id or
    username names nobody (404, 401), never a 500."""
    db = await rules_db(MIGRATIONS)
    async with staff_service(db) as service:
        with pytest.raises(NotFound):
            await service.update("a\x00b", StaffUpdate(name="x"))
        with pytest.raises(NotFound):
            await service.update_competence("a\x00b", CompetenceUpdate(name="x"))
        with pytest.raises(Unauthorized):
            await service.login("admin\x00", "admin-pw")
        with pytest.raises(Problem) as unknown:
            await service.create_competence(CompetenceCreate(name="K", member_ids=["\x00"]))
        assert unknown.value.status == 422


@contextlib.asynccontextmanager
async def limited_service(db: Database, limits: LoginLimits) -> AsyncIterator[StaffService]:
    async with db.unit_of_work() as session:
        yield StaffService(session, OUTBOX, SETTINGS, limits=limits)


async def test_failed_logins_lock_a_username_for_the_window(rules_db: RulesDb) -> None:
    db = await rules_db(MIGRATIONS)
    windows = MemoryWindows()
    limits = LoginLimits(windows, per_username=10, per_address=1000, window_seconds=900)
    async with staff_service(db) as service:
        await service.create(member("carla"))
    for attempt in range(10):
        windows.now += 1
        with pytest.raises(Unauthorized):
            async with limited_service(db, limits) as service:
                await service.login("CARLA" if attempt % 2 else "carla", "falsch", "10.0.0.1")
    for password in ("falsch", "geheim-123"):  # locked: even the right password
        with pytest.raises(TooManyRequests) as locked:
            async with limited_service(db, limits) as service:
                await service.login("Carla", password, "10.0.0.2")
        assert locked.value.status == 429
        assert locked.value.headers == {"Retry-After": "891"}  # the first failure + 900 s
    windows.now += 891  # the first failure has left the window: one more try
    async with limited_service(db, limits) as service:
        await service.login("carla", "geheim-123", "10.0.0.1")
    for _ in range(9):  # a sign-in cleared the username's failures
        with pytest.raises(Unauthorized):
            async with limited_service(db, limits) as service:
                await service.login("carla", "falsch", "10.0.0.1")
    async with limited_service(db, limits) as service:
        await service.login("carla", "geheim-123", "10.0.0.1")


async def test_failed_logins_lock_a_client_address_across_usernames(rules_db: RulesDb) -> None:
    db = await rules_db(MIGRATIONS)
    windows = MemoryWindows()
    limits = LoginLimits(windows, per_username=10, per_address=3, window_seconds=900)
    async with staff_service(db) as service:
        await service.create(member("dora"))
    for name in ("x1", "x2", "x3"):  # unknown usernames count too
        with pytest.raises(Unauthorized):
            async with limited_service(db, limits) as service:
                await service.login(name, "falsch", "192.0.2.7")
    with pytest.raises(TooManyRequests):
        async with limited_service(db, limits) as service:
            await service.login("dora", "geheim-123", "192.0.2.7")
    async with limited_service(db, limits) as service:  # from elsewhere: fine
        await service.login("dora", "geheim-123", "192.0.2.8")
    with pytest.raises(TooManyRequests):  # a sign-in does not clear an address
        async with limited_service(db, limits) as service:
            await service.login("dora", "geheim-123", "192.0.2.7")
