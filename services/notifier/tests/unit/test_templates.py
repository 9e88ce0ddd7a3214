"""Which interaction mails what, in which language (pure unit tests)."""

from datetime import UTC, datetime

import pytest

from crm_notifier.mail import interaction_email, requested_email
from crm_notifier.texts import Templates
from crm_shared.events import (
    ContactCopy,
    EmailRequested,
    InteractionLogged,
    StaffRef,
    make_event,
)


def logged(
    kind: str, language: str = "de", email: str | None = "k@example.com"
) -> tuple[InteractionLogged, str]:
    """An interaction of ``kind`` and the id of the event that carried it."""
    payload = InteractionLogged(
        interaction_id="i1",
        contact_id="c1",
        topic="Angebot",
        kind=kind,
        text="Text",
        occurred_at=datetime(2026, 11, 22, 9, 30, tzinfo=UTC),
        recorded_by=StaffRef(staff_id="s1", name="Anna Berger", email="anna@firma.example"),
        contact=ContactCopy(name="Erika Mustermann", email=email, language=language),
    )
    return payload, make_event(payload, source="/crm/test").id


def test_internal_interactions_never_mail() -> None:
    assert interaction_email(*logged("internal"), Templates()) is None


def test_contact_without_email_gets_nothing() -> None:
    assert interaction_email(*logged("incoming", email=None), Templates()) is None


@pytest.mark.parametrize(
    ("language", "subject", "greeting", "when"),
    [
        ("de", "Wir haben Ihre Nachricht erhalten: Angebot", "Guten Tag Erika", "22.11.2026 10:30"),
        ("en", "We have received your message: Angebot", "Hello Erika", "22 Nov 2026, 10:30"),
    ],
)
def test_incoming_mail_in_the_contact_language(
    language: str, subject: str, greeting: str, when: str
) -> None:
    email = interaction_email(*logged("incoming", language), Templates())
    assert email is not None
    assert email.subject == subject
    assert greeting in email.body and when in email.body  # Europe/Berlin time
    assert email.reply_to == "anna@firma.example"
    assert email.template == "interaction_incoming"


def test_outgoing_mail_mentions_the_portal() -> None:
    email = interaction_email(*logged("outgoing"), Templates())
    assert email is not None and "Kundenportal" in email.body


def test_message_id_is_stable_per_cause_and_recipient() -> None:
    d = logged("incoming")
    first = interaction_email(*d, Templates())
    second = interaction_email(*d, Templates())
    assert first is not None and second is not None
    assert first.message_id == second.message_id


def requested(**fields: object) -> tuple[EmailRequested, str]:
    payload = EmailRequested(request_id="r1", recipient="kunde@example.com", **fields)
    return payload, make_event(payload, source="/crm/test").id


def test_requested_email_from_a_template() -> None:
    email = requested_email(
        *requested(
            template="portal_login_link",
            language="en",
            contact_id="c1",
            context={
                "name": "John",
                "link": "http://x/portal/login?token=t",
                "expires_minutes": 15,
            },
        ),
        Templates(),
    )
    assert email.subject == "Your sign-in link to the customer portal"
    assert "http://x/portal/login?token=t" in email.body and "15 minutes" in email.body


def test_requested_email_with_ready_text() -> None:
    email = requested_email(*requested(subject="Einladung", body="Hallo Erika"), Templates())
    assert (email.subject, email.body, email.template) == ("Einladung", "Hallo Erika", "text")
    assert email.contact_id is None


def test_request_needs_a_template_or_a_text() -> None:
    with pytest.raises(ValueError, match="either template"):
        EmailRequested(request_id="r1", recipient="kunde@example.com", subject="nur Betreff")
