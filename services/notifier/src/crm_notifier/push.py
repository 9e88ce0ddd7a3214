"""Staff push notifications: stored per staff member, announced as NotificationPushed, and
published on the Redis channel ``crm:notifications:<staff_id>`` after the commit, which
any gateway replica relays to that staff member's live stream (server-sent events).

Who gets one (seeds 001, 002, 004): the staff a contact is assigned to (the ids the
ContactAssigned event names), the staff looking after a contact that writes through the
portal (its staff member, its competence's members, or every active staff member when it
is assigned to all), and the staff member whose reminder is due.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, or_, select

from crm_notifier.models import CompetenceCopy, ContactCopy, Notification, StaffCopy
from crm_notifier.schemas import NotificationPublic
from crm_shared.after_commit import after_commit
from crm_shared.copies import keep_newest
from crm_shared.db import table_of
from crm_shared.events import (
    CompetenceChanged,
    ContactAssigned,
    ContactSnapshot,
    NotificationPushed,
    PortalMessageReceived,
    ReminderDue,
    StaffData,
    derived_event_id,
    utcnow,
)
from crm_shared.outbox import Outbox
from crm_shared.timezones import BERLIN

CHANNEL = "crm:notifications:{staff_id}"

TITLES = {
    "contact_assigned": {
        "de": "Ihnen wurde der Kontakt {name} zugewiesen",
        "en": "Contact {name} was assigned to you",
    },
    "portal_message": {
        "de": "Neue Portalnachricht von {name}: {topic}",
        "en": "New portal message from {name}: {topic}",
    },
    "reminder_due": {"de": "Erinnerung: {subject}", "en": "Reminder: {subject}"},
}
DUE_TEXT = {"de": "Fällig am {when}", "en": "Due {when}"}
DATE_FORMATS = {"de": "%d.%m.%Y %H:%M", "en": "%d %b %Y, %H:%M"}


def to_public(row: Notification) -> NotificationPublic:
    return NotificationPublic(
        id=row.id,
        staff_id=row.staff_id,
        kind=row.kind,
        title=row.title,
        body=row.body,
        contact_id=row.contact_id,
        link=row.link,
        created_at=row.created_at,
        read_at=row.read_at,
    )


def channel(staff_id: str) -> str:
    return CHANNEL.format(staff_id=staff_id)


class PushService:
    def __init__(self, session: AsyncSession, outbox: Outbox, redis: Redis) -> None:
        self.session = session
        self.outbox = outbox
        self.redis = redis

    # --- pushing ----------------------------------------------------------------------

    async def _languages(self, staff_ids: Sequence[str]) -> dict[str, str]:
        rows = await self.session.scalars(
            select(StaffCopy).where(col(StaffCopy.staff_id).in_(list(staff_ids)))
        )
        return {row.staff_id: row.language for row in rows}

    async def push(
        self,
        staff_ids: Sequence[str],
        *,
        kind: str,
        cause_event_id: str,
        fields: dict[str, str],
        body: str | None = None,
        contact_id: str | None = None,
        link: str | None = None,
        language: str | None = None,
    ) -> list[Notification]:
        staff_ids = list(dict.fromkeys(s for s in staff_ids if s))
        languages = await self._languages(staff_ids) if language is None else {}
        stored: list[Notification] = []
        for staff_id in staff_ids:
            lang = language or languages.get(staff_id, "de")
            row = Notification(
                id=derived_event_id("notification", cause_event_id, staff_id),
                staff_id=staff_id,
                kind=kind,
                title=TITLES[kind][lang if lang in ("de", "en") else "de"].format(**fields)[:500],
                body=body,
                contact_id=contact_id,
                link=link,
            )
            if await self.session.get(Notification, row.id) is not None:
                continue
            self.session.add(row)
            stored.append(row)
        if not stored:
            return stored
        await self.session.flush()
        for row in stored:
            self.outbox.emit(
                self.session,
                NotificationPushed(
                    notification_id=row.id,
                    staff_id=row.staff_id,
                    kind=row.kind,
                    title=row.title,
                    body=row.body,
                    contact_id=row.contact_id,
                    link=row.link,
                ),
                event_id=derived_event_id("NotificationPushed", row.id),
            )
        messages = [(channel(r.staff_id), to_public(r).model_dump_json()) for r in stored]

        async def publish() -> None:
            async with self.redis.pipeline(transaction=False) as pipe:
                for name, data in messages:
                    pipe.publish(name, data)
                await pipe.execute()

        after_commit(
            self.session, publish, repaired_by="the stored list (only the live stream missed it)"
        )
        return stored

    async def contact_assigned(self, event: ContactAssigned, cause_event_id: str) -> None:
        await self.apply_assignment(event)
        await self.push(
            event.notify_staff_ids,
            kind="contact_assigned",
            cause_event_id=cause_event_id,
            fields={"name": event.contact_name},
            contact_id=event.contact_id,
            link=f"/contacts/{event.contact_id}",
        )

    async def portal_message(self, event: PortalMessageReceived, cause_event_id: str) -> None:
        await self.push(
            await self.assigned_staff(event.contact_id),
            kind="portal_message",
            cause_event_id=cause_event_id,
            fields={"name": event.contact_name, "topic": event.topic},
            body=event.text[:1000],
            contact_id=event.contact_id,
            link=f"/interactions/{event.interaction_id}",
        )

    async def reminder_due(self, event: ReminderDue, cause_event_id: str) -> None:
        lang = event.staff_language
        when = event.due_at.astimezone(BERLIN).strftime(DATE_FORMATS[lang])
        link = (
            f"/procedures/{event.procedure_id}"
            if event.procedure_id
            else f"/interactions/{event.interaction_id}"
        )
        await self.push(
            [event.staff_id],
            kind="reminder_due",
            cause_event_id=cause_event_id,
            fields={"subject": event.subject},
            body=DUE_TEXT[lang].format(when=when),
            contact_id=event.contact_id,
            link=link,
            language=lang,
        )

    # --- who looks after a contact ---------------------------------------------------------

    async def assigned_staff(self, contact_id: str) -> list[str]:
        contact = await self.session.get(ContactCopy, contact_id)
        if contact is None:
            return []
        if contact.mode == "staff" and contact.staff_id:
            return [contact.staff_id]
        if contact.mode == "competence" and contact.competence_id:
            competence = await self.session.get(CompetenceCopy, contact.competence_id)
            return list(competence.member_ids) if competence else []
        if contact.mode == "all":
            rows = await self.session.scalars(
                select(StaffCopy.staff_id).where(col(StaffCopy.active).is_(True))
            )
            return list(rows)
        return []

    async def apply_snapshots(self, snapshots: Sequence[ContactSnapshot]) -> None:
        """:meth:`apply_assignment` for a run of contact events, in one upsert."""
        rows = [
            {
                "contact_id": snapshot.contact_id,
                "name": snapshot.name,
                "mode": snapshot.assignment.mode,
                "staff_id": snapshot.assignment.staff_id,
                "competence_id": snapshot.assignment.competence_id,
                "version": snapshot.version,
            }
            for snapshot in snapshots
        ]
        await keep_newest(self.session, table_of(ContactCopy), rows, replace_equal=True)

    async def apply_assignment(self, event: ContactSnapshot | ContactAssigned) -> None:
        """Keep the newest assignment of a contact (events may repeat or come late)."""
        copy = await self.session.get(ContactCopy, event.contact_id)
        name = event.name if isinstance(event, ContactSnapshot) else event.contact_name
        if copy is None:
            copy = ContactCopy(contact_id=event.contact_id, name=name, version=-1)
            self.session.add(copy)
        elif copy.version > event.version:
            return
        copy.name = name
        copy.mode = event.assignment.mode
        copy.staff_id = event.assignment.staff_id
        copy.competence_id = event.assignment.competence_id
        copy.version = event.version
        await self.session.flush()

    async def apply_competence(self, event: CompetenceChanged) -> None:
        copy = await self.session.get(CompetenceCopy, event.competence_id)
        if copy is None:
            copy = CompetenceCopy(competence_id=event.competence_id, name=event.name)
            self.session.add(copy)
        copy.name = event.name
        copy.member_ids = list(event.member_ids)
        await self.session.flush()

    async def apply_staff(self, event: StaffData) -> None:
        copy = await self.session.get(StaffCopy, event.staff_id)
        if copy is None:
            copy = StaffCopy(staff_id=event.staff_id)
            self.session.add(copy)
        copy.language = event.language
        copy.active = event.active
        await self.session.flush()

    async def erase_contact(self, contact_id: str) -> None:
        """GDPR: a deleted contact leaves no name in copies or notifications."""
        await self.session.execute(
            sa.delete(Notification).where(col(Notification.contact_id) == contact_id)
        )
        copy = await self.session.get(ContactCopy, contact_id)
        if copy is not None:
            await self.session.delete(copy)
        await self.session.flush()

    # --- reading --------------------------------------------------------------------------

    async def page(
        self,
        staff_id: str,
        *,
        before: tuple[datetime, str] | None,
        unread_only: bool,
        limit: int,
    ) -> Sequence[Notification]:
        """Newest first, keyset by (created_at, id)."""
        query = select(Notification).where(col(Notification.staff_id) == staff_id)
        if unread_only:
            query = query.where(col(Notification.read_at).is_(None))
        if before is not None:
            at, nid = before
            if self.session.get_bind().dialect.name == "sqlite":  # stored as naive UTC
                at = at.astimezone(UTC).replace(tzinfo=None)
            query = query.where(
                or_(
                    col(Notification.created_at) < at,
                    (col(Notification.created_at) == at) & (col(Notification.id) < nid),
                )
            )
        query = query.order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        return (await self.session.scalars(query.limit(limit))).all()

    async def unread(self, staff_id: str) -> int:
        count = await self.session.scalar(
            select(sa.func.count())
            .select_from(Notification)
            .where(col(Notification.staff_id) == staff_id, col(Notification.read_at).is_(None))
        )
        return int(count or 0)

    async def mark_read(self, staff_id: str, notification_id: str) -> Notification | None:
        row = await self.session.get(Notification, notification_id)
        if row is None or row.staff_id != staff_id:
            return None
        if row.read_at is None:
            row.read_at = utcnow()
            await self.session.flush()
        return row

    async def mark_all_read(self, staff_id: str) -> int:
        result = await self.session.execute(
            sa.update(Notification)
            .where(col(Notification.staff_id) == staff_id, col(Notification.read_at).is_(None))
            .values(read_at=utcnow())
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
