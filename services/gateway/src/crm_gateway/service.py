"""Staff, login and competences (the gateway owns login, so staff live here): the rules.
Adds outbox events; never commits.

- A username is taken once without regard to case (``Anna`` is ``anna``); login finds
  it in any case.
- After too many failed logins for a username or from an address, login answers 429
  until the window passes, even for the right password (:mod:`crm_gateway.limits`).
- The last active admin keeps the role and stays active (nobody could administer then).
- A deactivated staff member cannot sign in, and a token of one no longer reads ``/api/me``.
- A competence's name is taken once; its members must be staff members.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from pwdlib import PasswordHash
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_gateway.limits import LoginLimits
from crm_gateway.models import Competence, Staff
from crm_gateway.repository import StaffRepository
from crm_gateway.schemas import (
    CompetenceCreate,
    CompetencePage,
    CompetencePublic,
    CompetenceUpdate,
    StaffCreate,
    StaffPage,
    StaffPublic,
    StaffUpdate,
)
from crm_gateway.settings import Settings
from crm_shared import cursor as cursors
from crm_shared.auth import StaffClaims, Unauthorized, issue_token
from crm_shared.errors import Conflict, NotFound, Unprocessable
from crm_shared.events import CompetenceChanged, StaffCreated, StaffData, StaffUpdated
from crm_shared.outbox import Outbox
from crm_shared.paging import page_of

log = logging.getLogger(__name__)

passwords = PasswordHash.recommended()
# Verified against when the username is unknown, so timing does not reveal usernames.
_DUMMY_HASH = passwords.hash("not-a-real-password")


def claims_of(staff: Staff) -> StaffClaims:
    return StaffClaims(
        staff_id=staff.id,
        username=staff.username,
        name=staff.name,
        initials=staff.initials,
        email=staff.email,
        roles=staff.roles,
        language=staff.language,
    )


def staff_event(staff: Staff, cls: type[StaffCreated] | type[StaffUpdated]) -> StaffData:
    """The staff member as every service learns of them: who the token says, and active."""
    return cls(**claims_of(staff).model_dump(), active=staff.active)


class StaffService:
    def __init__(
        self,
        session: AsyncSession,
        outbox: Outbox,
        settings: Settings,
        *,
        limits: LoginLimits | None = None,
    ) -> None:
        self._session = session
        self._outbox = outbox
        self._settings = settings
        self._limits = limits
        self._repo = StaffRepository(session)

    async def create(self, data: StaffCreate) -> Staff:
        taken = Conflict(
            f"username {data.username} is taken", field="username", code="username_taken"
        )
        if await self._repo.by_username(data.username) is not None:
            raise taken
        staff = Staff(
            **data.model_dump(exclude={"password", "roles"}),
            roles=list(data.roles),
            password_hash=passwords.hash(data.password),
        )
        self._repo.add(staff)
        try:
            await self._repo.flush()
        except IntegrityError as exc:  # created at the same moment by another request
            raise taken from exc
        self._outbox.emit(self._session, staff_event(staff, StaffCreated))
        return staff

    async def signed_in(self, claims: StaffClaims) -> Staff:
        """The staff member a token names; 401 when they are gone or deactivated."""
        staff = await self._repo.staff(claims.staff_id)
        if staff is None or not staff.active:
            raise Unauthorized("this staff member can no longer sign in")
        return staff

    async def update(self, staff_id: str, data: StaffUpdate) -> Staff:
        """Change a staff member (admin): name, initials, email, roles, language, active,
        password; announced as ``StaffUpdated`` so every copy follows. The last active
        admin cannot lose the role or be deactivated (nobody could administer then)."""
        staff = await self._repo.staff(staff_id, for_update=True)
        if staff is None:
            raise NotFound("staff member", staff_id)
        changes = data.model_dump(exclude_unset=True)
        password = changes.pop("password", None)
        if "roles" in changes:
            changes["roles"] = list(dict.fromkeys(changes["roles"]))
        changed = [name for name, value in changes.items() if getattr(staff, name) != value]
        still_admin = "admin" in changes.get("roles", staff.roles)
        still_active = changes.get("active", staff.active)
        if "admin" in staff.roles and staff.active and not (still_admin and still_active):
            others = await self._repo.other_active(staff.id)
            if not any("admin" in other.roles for other in others):
                raise Conflict(
                    "the last active admin keeps the admin role", field="roles", code="last_admin"
                )
        for name in changed:
            setattr(staff, name, changes[name])
        if password is not None:
            staff.password_hash = passwords.hash(password)
        if changed:
            await self._repo.flush()
            self._outbox.emit(self._session, staff_event(staff, StaffUpdated))
        return staff

    async def page(self, cursor: str | None, limit: int) -> StaffPage:
        """A page of the staff by (name, id), after ``cursor``."""
        rows = await self._repo.staff_page(after=cursors.keyset(cursor, str, str), limit=limit + 1)
        kept, next_cursor = page_of(rows, limit, lambda s: (s.name, s.id))
        return StaffPage(items=[StaffPublic.of(row) for row in kept], next_cursor=next_cursor)

    async def login(
        self, username: str, password: str, address: str | None = None
    ) -> tuple[str, int]:
        """A token for the staff member (username in any case) and its lifetime in
        seconds; 401 for a wrong username or password or a deactivated staff member,
        taking as long either way. With limits: 429 while the username or the client
        ``address`` has had too many failures, a failure counted for both."""
        settings = self._settings
        if self._limits is not None:
            await self._limits.refuse_when_blocked(username, address)
        staff = await self._repo.by_username(username)
        valid = passwords.verify(password, staff.password_hash if staff else _DUMMY_HASH)
        if staff is None or not valid or not staff.active:
            if self._limits is not None:
                await self._limits.failed(username, address)
            raise Unauthorized("wrong username or password")
        if self._limits is not None:
            await self._limits.succeeded(username)
        ttl = timedelta(minutes=settings.token_ttl_minutes)
        return issue_token(claims_of(staff), settings.jwt_secret, ttl=ttl), int(ttl.total_seconds())

    async def ensure_admin(self) -> None:
        """Create the first admin from CRM_ADMIN_* if missing, announced with
        ``StaffCreated`` like any staff member (every service then knows the admin as an
        assignee, a procedure's responsible, a reminder's addressee with an email)."""
        settings = self._settings
        if await self._repo.by_username(settings.admin_username) is not None:
            return
        admin = Staff(
            username=settings.admin_username,
            password_hash=passwords.hash(settings.admin_password),
            name="Administrator",
            initials="ADM",
            email=settings.admin_email,
            roles=["admin", "crm_user"],
        )
        self._repo.add(admin)
        await self._repo.flush()
        self._outbox.emit(self._session, staff_event(admin, StaffCreated))
        log.info("created the first admin %r", settings.admin_username)

    async def competence_page(self, cursor: str | None, limit: int) -> CompetencePage:
        """A page of the competences by (name, id), after ``cursor``."""
        after = cursors.keyset(cursor, str, str)
        rows = await self._repo.competence_page(after=after, limit=limit + 1)
        kept, next_cursor = page_of(rows, limit, lambda c: (c.name, c.id))
        return CompetencePage(
            items=[CompetencePublic.of(row) for row in kept], next_cursor=next_cursor
        )

    async def create_competence(self, data: CompetenceCreate) -> Competence:
        await self._name_free(data.name)
        await self._known_staff(data.member_ids)
        competence = Competence(name=data.name, member_ids=list(dict.fromkeys(data.member_ids)))
        self._repo.add(competence)
        await self._repo.flush()
        self._announce(competence)
        return competence

    async def update_competence(self, competence_id: str, data: CompetenceUpdate) -> Competence:
        """Rename a competence or set its members (admin); announced as
        ``CompetenceChanged`` like a new one, so the contacts service and the notifier
        resolve contacts assigned to it to the new members."""
        competence = await self._repo.competence(competence_id, for_update=True)
        if competence is None:
            raise NotFound("competence", competence_id)
        changed = False
        if data.name is not None and data.name != competence.name:
            await self._name_free(data.name)
            competence.name = data.name
            changed = True
        if data.member_ids is not None:
            members = list(dict.fromkeys(data.member_ids))
            await self._known_staff(members)
            if members != competence.member_ids:
                competence.member_ids = members
                changed = True
        if changed:
            await self._repo.flush()
            self._announce(competence)
        return competence

    async def _name_free(self, name: str) -> None:
        if await self._repo.competence_named(name) is not None:
            raise Conflict(f"competence {name} exists", field="name", code="competence_exists")

    async def _known_staff(self, staff_ids: Sequence[str]) -> None:
        """422 naming ``member_ids`` when any of them is no staff member."""
        if not staff_ids:
            return
        found = await self._repo.known_staff_ids(staff_ids)
        missing = sorted(set(staff_ids) - found)
        if missing:
            raise Unprocessable("member_ids", f"unknown staff: {', '.join(missing)}")

    def _announce(self, competence: Competence) -> None:
        self._outbox.emit(
            self._session,
            CompetenceChanged(
                competence_id=competence.id,
                name=competence.name,
                member_ids=competence.member_ids,
            ),
        )
