"""The notifier writes its mails itself (:mod:`crm_notifier.mime`): what a mail client
reads back from them must be what the notifier meant, whatever staff and customers typed."""

from __future__ import annotations

from email import message_from_bytes, message_from_string, policy
from email.message import EmailMessage

import pytest

from crm_notifier.mime import (
    address,
    envelope_address,
    header_value,
    needs_smtputf8,
    plain_text_mail,
)


def read(data: bytes) -> EmailMessage:
    """The message as a client stores it: its lines end in the local line end."""
    message = message_from_bytes(data.replace(b"\r\n", b"\n"), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def mail(subject: str, body: str, *, sender: str = "CRM <crm@example.com>") -> bytes:
    return plain_text_mail(
        [
            ("From", address(sender)),
            ("To", address("Kunde <kunde@example.com>")),
            ("Subject", header_value("Subject", subject)),
            ("Message-ID", "<abc@crm>"),
        ],
        body,
    )


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Ihre Anfrage", "Guten Tag,\n\nvielen Dank.\n"),
        ("Unser Angebot für Jürgen Weiß", "Grüße aus Köln …\nÄÖÜ äöü ß €\n"),
        ("Ä" * 300, "x" * 2000 + "\n" + "Straße " * 400),  # long lines both ways
        ("plain " * 200, "a line\r\nwith CRLF\rand a lone CR\n.a dot first\nFrom here\n"),
    ],
)
def test_a_client_reads_back_subject_and_body(subject: str, body: str) -> None:
    data = mail(subject, body)
    message = read(data)
    assert message["Subject"] == subject
    assert message["Message-ID"] == "<abc@crm>"
    expected = body.replace("\r\n", "\n").replace("\r", "\n")
    assert message.get_content().rstrip("\n") == expected.rstrip("\n")
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"")  # every line ends in CRLF


def test_plain_ascii_stays_readable_as_it_is() -> None:
    data = mail("Hello", "Hello John Smith\n")
    message = read(data)
    assert message["Content-Transfer-Encoding"] == "7bit"
    assert "Hello John Smith" in str(message.get_payload())


def test_a_line_break_in_a_value_cannot_add_a_header() -> None:
    message = read(mail("Hallo\r\nBcc: alle@example.com", "Text\n"))
    assert message["Bcc"] is None
    assert message["Subject"] == "Hallo Bcc: alle@example.com"


def test_addresses_with_names_that_are_not_ascii() -> None:
    message = read(mail("Betreff", "Text\n", sender="Müller & Söhne <info@example.com>"))
    assert message["From"].addresses[0].display_name == "Müller & Söhne"
    assert message["From"].addresses[0].addr_spec == "info@example.com"
    assert envelope_address("Müller & Söhne <info@example.com>") == "info@example.com"
    assert envelope_address("plain@example.com") == "plain@example.com"


def test_an_address_that_is_not_ascii_goes_as_raw_utf8_with_smtputf8() -> None:
    recipient = "jörg@example.com"
    data = plain_text_mail([("To", address(recipient)), ("Subject", "Link")], "Text\n")

    assert "To: jörg@example.com\r\n".encode() in data  # RFC 6532: raw UTF-8
    assert envelope_address(recipient) == recipient
    assert needs_smtputf8("crm@example.com", recipient)
    assert not needs_smtputf8("crm@example.com", "joerg@example.com")
    raw = plain_text_mail([("To", address('"Jörg \\"J\\" Müller" <jörg@example.com>'))], "Text\n")
    named = message_from_string(raw.decode("utf-8"), policy=policy.SMTPUTF8)
    assert named["To"].addresses[0].display_name == 'Jörg "J" Müller'
    assert named["To"].addresses[0].addr_spec == "jörg@example.com"
