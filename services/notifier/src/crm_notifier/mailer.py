"""Sending email once: SMTP with retries, the send-once guard, EmailSent/EmailFailed.

Mails go out over a few SMTP connections kept open (:mod:`crm_notifier.smtp_pool`). The
guard is a Redis key per (cause event, template, recipient), written right after the
mail server accepted the message. A redelivered
event finds the key and sends nothing. The only window for a duplicate is a crash between
the server's acceptance and that write (a Redis round trip), for each mail then in flight
(at most one per connection of the pool); the Message-ID is derived from the cause event,
so a receiving system can drop such a duplicate too.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import formatdate

import aiosmtplib
from redis.asyncio import Redis

from crm_notifier.mime import (
    address,
    envelope_address,
    header_value,
    needs_smtputf8,
    plain_text_mail,
)
from crm_notifier.settings import Settings
from crm_notifier.smtp_pool import SmtpPool
from crm_shared import tracing
from crm_shared.coalesce import Coalescer
from crm_shared.consumer import DeadLetter
from crm_shared.events import (
    CloudEvent,
    EmailFailed,
    EmailSent,
    Topic,
    derived_event_id,
    make_event,
)
from crm_shared.kafka import EventProducer

log = logging.getLogger(__name__)

SENT_TTL_SECONDS = 60 * 24 * 3600


@dataclass(frozen=True)
class Email:
    """A rendered email for one recipient, caused by one event."""

    cause_event_id: str
    contact_id: str | None
    template: str
    recipient: str
    subject: str
    body: str
    reply_to: str | None = None

    @property
    def message_id(self) -> str:
        return message_id_of(self.cause_event_id, self.template, self.recipient)


def message_id_of(cause_event_id: str, template: str, recipient: str) -> str:
    """The Message-ID of the mail a cause event sends with a template to a recipient:
    the same on every attempt, so a receiver can drop a duplicate."""
    return f"<{derived_event_id('mail', cause_event_id, template, recipient)}@crm>"


def guard_key(email: Email) -> str:
    """The send-once guard of a mail in Redis. It names the recipient only by a digest:
    the key outlives a permanent delete of the contact (60 days), and their address
    must not (issue 19)."""
    digest = hashlib.sha256(email.recipient.lower().encode()).hexdigest()[:32]
    return f"crm:notifier:sent:{email.cause_event_id}:{email.template}:{digest}"


def legacy_guard_key(email: Email) -> str:
    """The guard as it was written before it named the recipient by a digest (read only,
    so a mail sent before the upgrade is not sent again on redelivery; gone within
    ``SENT_TTL_SECONDS``)."""
    return f"crm:notifier:sent:{email.cause_event_id}:{email.template}:{email.recipient}"


class Mailer:
    def __init__(self, settings: Settings, redis: Redis, producer: EventProducer) -> None:
        self._settings = settings
        self._redis = redis
        self._producer = producer
        self._from = address(settings.smtp_from)  # the header and the envelope's sender
        self._sender = envelope_address(settings.smtp_from)
        self.pool = SmtpPool(
            self._session, size=settings.smtp_pool_size, rate=settings.smtp_rate_per_second
        )
        # mails under way at once write their guards, and publish their reports, together
        self._guards = Coalescer(self._write_guards)
        self._reports = Coalescer(producer.publish_many)

    async def _write_guards(self, keys: Sequence[str]) -> None:
        async with self._redis.pipeline(transaction=False) as guards:
            for key in keys:
                guards.set(key, "1", ex=SENT_TTL_SECONDS)
            await guards.execute()

    def _session(self) -> aiosmtplib.SMTP:
        s = self._settings
        return aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password,
            start_tls=s.smtp_starttls,
            timeout=s.smtp_timeout_seconds,
        )

    async def close(self) -> None:
        await self.pool.close()

    def _message(self, email: Email) -> bytes:
        headers = [
            ("From", self._from),
            ("To", address(email.recipient)),
            ("Subject", header_value("Subject", email.subject)),
            ("Date", formatdate(localtime=False)),
            ("Message-ID", email.message_id),
            ("X-CRM-Event-Id", email.cause_event_id),
        ]
        if email.reply_to:
            headers.append(("Reply-To", address(email.reply_to)))
        return plain_text_mail(headers, email.body)

    async def _smtp_send(self, email: Email, message: bytes, guard_key: str) -> None:
        """Hand the message over on a pooled connection and set the send-once guard right
        after the server accepted it: the window for a duplicate after a crash is only
        the time between the server's "250" and the Redis write."""
        recipient = envelope_address(email.recipient)
        options = ["SMTPUTF8"] if needs_smtputf8(self._sender, recipient) else None
        async with self.pool.connection() as smtp:
            with tracing.client_span("smtp send", **{"crm.recipient": email.recipient}):
                await smtp.sendmail(self._sender, [recipient], message, mail_options=options)
            await self._guards.add(guard_key)

    async def send_once(self, email: Email, *, unless: Sequence[str] = ()) -> bool:
        """Send unless already sent (or one of the Redis keys ``unless`` is set: one
        round trip asks both); retries while the server is down. False if skipped."""
        key = guard_key(email)
        async with self._redis.pipeline(transaction=False) as asked:
            asked.exists(key, legacy_guard_key(email))
            if unless:
                asked.exists(*unless)
            sent, *vetoed = await asked.execute()
        if sent:
            log.info("mail %s already sent; skipping", email.message_id)
            return False
        if any(vetoed):
            log.info("mail %s vetoed (%s); not sent", email.message_id, ", ".join(unless))
            return False
        message = self._message(email)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.smtp_retry_seconds
        delay = 0.5
        while True:
            try:
                await self._smtp_send(email, message, key)
                break
            except (aiosmtplib.SMTPException, OSError) as exc:
                permanent = (
                    isinstance(exc, aiosmtplib.SMTPResponseException) and 500 <= exc.code < 600
                )
                if permanent or loop.time() + delay > deadline:
                    await self._report_failure(email, repr(exc))
                    raise DeadLetter(f"email {email.message_id} failed: {exc!r}") from exc
                log.warning("SMTP send failed (%r); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        log.info("mail %s sent to %s (%s)", email.message_id, email.recipient, email.template)
        sent = EmailSent(
            contact_id=email.contact_id,
            cause_event_id=email.cause_event_id,
            template=email.template,
            recipient=email.recipient,
            message_id=email.message_id,
        )
        await self._reports.add((Topic.NOTIFICATIONS, self._report(email, sent)))
        return True

    async def _report_failure(self, email: Email, error: str) -> None:
        failed = EmailFailed(
            contact_id=email.contact_id,
            cause_event_id=email.cause_event_id,
            template=email.template,
            recipient=email.recipient,
            error=error,
        )
        await self._producer.publish(Topic.NOTIFICATIONS, self._report(email, failed))

    def _report(self, email: Email, report: EmailSent | EmailFailed) -> CloudEvent:
        """The report's event, its id derived from the mail: the same on every attempt."""
        return make_event(
            report,
            source=f"/crm/{self._settings.service_name}",
            event_id=derived_event_id(type(report).__name__, email.message_id),
        )
