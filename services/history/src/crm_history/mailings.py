"""A mailing's content: its templates, checked when it is asked for, and the mail each
contact gets.

Templates are Jinja2, sandboxed and with ``StrictUndefined``: an unknown placeholder, an
unsafe attribute or bad syntax is a 422 naming the field (``subject``/``body``) at
request time, before any contact is resolved.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, Template
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from crm_history.selections import Target
from crm_shared.errors import Unprocessable
from crm_shared.events import EmailRequested, EventData, StaffRef, derived_event_id

# What a mailing template may use: {{ name }}, {{ customer_number }}, …
PLACEHOLDERS = ("name", "customer_number", "email", "language", "status", "contact_id")
_SAMPLE = {
    "name": "Erika Mustermann",
    "customer_number": "K-0001",
    "email": "erika@example.com",
    "language": "de",
    "status": "customer",
    "contact_id": "00000000-0000-0000-0000-000000000000",
}

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def compile_template(field: str, source: str) -> Template:
    """A sandboxed template; unknown placeholders and bad syntax are a 422 on ``field``."""
    try:
        template = _env.from_string(source)
        template.render(_SAMPLE)
    except UndefinedError as exc:
        allowed = ", ".join("{{ %s }}" % p for p in PLACEHOLDERS)  # noqa: UP031
        raise Unprocessable(field, f"unknown placeholder: {exc.message}; use {allowed}") from exc
    except SecurityError as exc:
        raise Unprocessable(field, f"not allowed in a template: {exc}") from exc
    except TemplateError as exc:
        raise Unprocessable(field, f"template error: {exc}") from exc
    return template


def template_context(contact: Target) -> dict[str, Any]:
    return {
        "name": contact.name,
        "customer_number": contact.customer_number or "",
        "email": contact.email or "",
        "language": contact.language,
        "status": contact.status,
        "contact_id": contact.id,
    }


@dataclass(frozen=True)
class Mailing:
    """A mailing job's compiled templates and who it comes from."""

    job_id: str
    subject: Template
    body: Template
    sender: StaffRef

    @classmethod
    def compile(cls, job_id: str, subject: str, body: str, sender: StaffRef) -> Mailing:
        return cls(
            job_id, compile_template("subject", subject), compile_template("body", body), sender
        )

    def mail(self, contact: Target, now: dt.datetime) -> tuple[EventData, str, dt.datetime]:
        """The mail to one contact (who has an address), to the address and in the language
        it had when the job started (what the user acted on), reply-to the sender; the
        request id is derived from (job, contact), so a resumed job asks for it once."""
        context = template_context(contact)
        request_id = derived_event_id("history", "mailing", self.job_id, contact.id)
        assert contact.email is not None  # noqa: S101 - checked by the caller
        event = EmailRequested(
            request_id=request_id,
            contact_id=contact.id,
            recipient=contact.email,
            language="en" if contact.language == "en" else "de",
            subject=" ".join(self.subject.render(context).split()) or "-",
            body=self.body.render(context),
            reply_to=self.sender.email,
        )
        return event, request_id, now
