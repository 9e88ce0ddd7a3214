"""Staff push notifications: who gets one, storing it, NotificationPushed, and the live
publish after the commit (:mod:`crm_notifier.live`). Adds outbox events; never commits.

Who gets one (seeds 001, 002, 004): the staff a contact is assigned to (the ids the
ContactAssigned event names), the staff looking after a contact that writes through the
portal (its staff member, its competence's members, or every active staff member when it
is assigned to all), and the staff member whose reminder is due. Titles are in each
staff member's language.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from crm_notifier.live import LiveChannels
from crm_notifier.mail import ErasedContacts
from crm_notifier.mailer import message_id_of
from crm_notifier.models import CompetenceCopy, ContactCopy, Notification, SentEmail, StaffCopy
from crm_notifier.repository import CopyRepository, NotificationRepository, SentEmailRepository
from crm_notifier.schemas import (
    NotificationPage,
    NotificationPublic,
    NotifierPersonalData,
    SentEmailPublic,
)
from crm_notifier.texts import DUE_TEXT, local_time, title
from crm_shared.after_commit import after_commit
from crm_shared.cursor import encode, keyset
from crm_shared.errors import NotFound
from crm_shared.events import (
    CompetenceChanged,
    ContactAssigned,
    ContactSnapshot,
    EmailFailed,
    EmailSent,
    NotificationPushed,
    PortalMessageReceived,
    ReminderDue,
    StaffData,
    derived_event_id,
    utcnow,
)
from crm_shared.outbox import Outbox

STAFF_TEMPLATES = frozenset({"reminder_email"})
"""Mails to a staff member about a contact, not to the contact: not in its ``emails``."""


def _message_id(event: EmailSent | EmailFailed) -> str:
    if isinstance(event, EmailSent):
        return event.message_id
    return message_id_of(event.cause_event_id, event.template, event.recipient)


class NotificationService:
    def __init__(
        self,
        session: AsyncSession,
        outbox: Outbox,
        live: LiveChannels,
        erased: ErasedContacts | None = None,
    ) -> None:
        self._session = session
        self._outbox = outbox
        self._live = live
        self._erased = erased
        self._notifications = NotificationRepository(session)
        self._copies = CopyRepository(session)
        self._emails = SentEmailRepository(session)

    # --- pushing ----------------------------------------------------------------------

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
        """Store a notification per staff member (once per cause), announce each as
        NotificationPushed and publish them live after the commit; none about a contact
        deleted for good."""
        if contact_id is not None and await self._is_erased(contact_id):
            return []  # an event about a contact deleted meanwhile (from another topic)
        staff_ids = list(dict.fromkeys(s for s in staff_ids if s))
        languages = await self._copies.languages(staff_ids) if language is None else {}
        stored: list[Notification] = []
        for staff_id in staff_ids:
            row = Notification(
                id=derived_event_id("notification", cause_event_id, staff_id),
                staff_id=staff_id,
                kind=kind,
                title=title(kind, language or languages.get(staff_id, "de"), fields)[:500],
                body=body,
                contact_id=contact_id,
                link=link,
            )
            if await self._notifications.get(row.id) is not None:
                continue
            self._notifications.add(row)
            stored.append(row)
        if not stored:
            return stored
        await self._notifications.flush()
        for row in stored:
            self._outbox.emit(
                self._session,
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
        published = [NotificationPublic.of(row) for row in stored]
        after_commit(
            self._session,
            lambda: self._live.publish(published),
            repaired_by="the stored list (only the live stream missed it)",
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
        """The push of a reminder's "due" stage (its "email" stage is mailed)."""
        if event.stage != "due":
            return
        lang = event.staff_language
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
            body=DUE_TEXT[lang].format(when=local_time(event.due_at, lang)),
            contact_id=event.contact_id,
            link=link,
            language=lang,
        )

    # --- who looks after a contact ---------------------------------------------------------

    async def assigned_staff(self, contact_id: str) -> list[str]:
        contact = await self._copies.contact(contact_id)
        if contact is None:
            return []
        if contact.mode == "staff" and contact.staff_id:
            return [contact.staff_id]
        if contact.mode == "competence" and contact.competence_id:
            competence = await self._copies.competence(contact.competence_id)
            return list(competence.member_ids) if competence else []
        if contact.mode == "all":
            return await self._copies.active_staff_ids()
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
        await self._copies.keep_newest_contacts(rows)

    async def apply_assignment(self, event: ContactSnapshot | ContactAssigned) -> None:
        """Keep the newest assignment of a contact (events may repeat or come late)."""
        copy = await self._copies.contact(event.contact_id)
        name = event.name if isinstance(event, ContactSnapshot) else event.contact_name
        if copy is None:
            copy = ContactCopy(contact_id=event.contact_id, name=name, version=-1)
            self._copies.add(copy)
        elif copy.version > event.version:
            return
        copy.name = name
        copy.mode = event.assignment.mode
        copy.staff_id = event.assignment.staff_id
        copy.competence_id = event.assignment.competence_id
        copy.version = event.version
        await self._copies.flush()

    async def apply_competence(self, event: CompetenceChanged) -> None:
        copy = await self._copies.competence(event.competence_id)
        if copy is None:
            copy = CompetenceCopy(competence_id=event.competence_id, name=event.name)
            self._copies.add(copy)
        copy.name = event.name
        copy.member_ids = list(event.member_ids)
        await self._copies.flush()

    async def apply_staff(self, event: StaffData) -> None:
        copy = await self._copies.staff(event.staff_id)
        if copy is None:
            copy = StaffCopy(staff_id=event.staff_id)
            self._copies.add(copy)
        copy.language = event.language
        copy.active = event.active
        await self._copies.flush()

    async def erase_contact(self, contact_id: str) -> None:
        """GDPR: a deleted contact leaves no name in copies or notifications, nor an
        address in the mails kept for it."""
        await self._notifications.delete_about(contact_id)
        await self._emails.delete_of(contact_id)
        copy = await self._copies.contact(contact_id)
        if copy is not None:
            await self._copies.delete(copy)
        await self._copies.flush()

    async def _is_erased(self, contact_id: str) -> bool:
        """Whether the contact was deleted for good (the mark the push group sets when it
        sees ``ContactDeleted``, before it erases)."""
        return self._erased is not None and await self._erased.holds(contact_id)

    # --- the mails sent to a contact ------------------------------------------------------

    async def record_email(self, event: EmailSent | EmailFailed, at: datetime) -> None:
        """One mail's report (:meth:`record_emails`)."""
        await self.record_emails([(event, at)])

    async def record_emails(
        self, reports: Sequence[tuple[EmailSent | EmailFailed, datetime]]
    ) -> None:
        """Keep the mails the notifier sent to contacts (or gave up on), for their
        personal-data export; not for a contact deleted meanwhile (the mail group's
        mark), nor a mail to staff (a reminder). A batch of reports (a mailing's) costs
        one lookup of the erased contacts, one of the rows and one write."""
        wanted = [
            (event, event.contact_id, at)
            for event, at in reports
            if event.contact_id is not None and event.template not in STAFF_TEMPLATES
        ]
        if not wanted:
            return
        erased = (
            await self._erased.among({contact_id for _, contact_id, _ in wanted})
            if self._erased is not None
            else set()
        )
        wanted = [report for report in wanted if report[1] not in erased]
        rows = await self._emails.get_many({_message_id(event) for event, _, _ in wanted})
        for event, contact_id, at in wanted:
            message_id = _message_id(event)
            row = rows.get(message_id)
            if row is None:
                row = rows[message_id] = SentEmail(
                    message_id=message_id,
                    contact_id=contact_id,
                    cause_event_id=event.cause_event_id,
                    template=event.template,
                    recipient=event.recipient,
                    status="",
                    at=at,
                )
                self._emails.add(row)
            elif row.status == "sent":
                continue  # sent once is sent: a late failure report changes nothing
            row.status = "sent" if isinstance(event, EmailSent) else "failed"
            row.error = event.error if isinstance(event, EmailFailed) else None
            row.at = at
        await self._emails.flush()

    async def personal_data(self, contact_id: str) -> NotifierPersonalData:
        """The mails sent to a contact and the notifications naming it (GDPR Art. 15/20;
        empty once the contact was deleted)."""
        emails = await self._emails.of_contact(contact_id)
        notifications = await self._notifications.about(contact_id)
        return NotifierPersonalData(
            emails=[SentEmailPublic.of(row) for row in emails],
            notifications=[NotificationPublic.of(row) for row in notifications],
        )

    # --- reading --------------------------------------------------------------------------

    async def page(
        self, staff_id: str, *, unread_only: bool, cursor: str | None, limit: int
    ) -> NotificationPage:
        """A staff member's notifications, newest first (keyset cursor), and how many of
        all of them are unread."""
        rows = await self._notifications.page(
            staff_id, unread_only=unread_only, before=keyset(cursor, datetime, str), limit=limit + 1
        )
        last = rows[limit - 1] if len(rows) > limit else None
        return NotificationPage(
            items=[NotificationPublic.of(row) for row in rows[:limit]],
            next_cursor=encode(last.created_at, last.id) if last else None,
            unread=await self._notifications.unread(staff_id),
        )

    async def mark_read(self, staff_id: str, notification_id: str) -> Notification:
        """Mark one of the staff member's own notifications read (404 for anybody else's)."""
        row = await self._notifications.get(notification_id)
        if row is None or row.staff_id != staff_id:
            raise NotFound("notification", notification_id)
        if row.read_at is None:
            row.read_at = utcnow()
            await self._notifications.flush()
        return row

    async def mark_all_read(self, staff_id: str) -> int:
        return await self._notifications.mark_all_read(staff_id, utcnow())
