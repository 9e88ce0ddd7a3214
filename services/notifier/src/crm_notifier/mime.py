"""The bytes of a plain-text mail, written directly.

The standard library's :class:`email.message.EmailMessage` parses every header it is given
and folds it again on output: about 1.4 ms of CPU per mail here, more than all the rest of
the notifier's work for it (issue 17's profile of a mailing). The notifier's mails are all
alike (text/plain, UTF-8, a handful of headers), so this module writes them out itself:
ASCII header values as they are, others as RFC 2047 encoded words (the standard
library's :class:`email.header.Header`), a body that is plain ASCII with short lines as
``7bit``, any other as quoted-printable. Addresses go through :func:`email.utils.formataddr`,
which encodes a display name that is not ASCII. Values come from staff and customers:
a line break in one becomes a space, so no one can add a header.
"""

from __future__ import annotations

import quopri
from collections.abc import Iterable
from email.header import Header
from email.utils import formataddr, parseaddr

_MAX_LINE = 998  # RFC 5322 2.1.1, without CRLF


def header_value(name: str, value: str) -> str:
    """Header ``name``'s value on one logical line: ASCII as it is (folded where it is
    long), other text as encoded words."""
    value = " ".join(value.splitlines())
    if value.isascii() and len(name) + len(value) < 900:
        return value
    charset = "us-ascii" if value.isascii() else "utf-8"
    return Header(value, charset, header_name=name).encode(linesep="\r\n", maxlinelen=76)


def address(value: str) -> str:
    """An address header's value: ``Name <addr>`` with the name encoded if it needs to."""
    value = " ".join(value.splitlines())
    name, addr = parseaddr(value)
    if not addr:
        return header_value("To", value)
    return formataddr((name, addr), charset="utf-8")


def envelope_address(value: str) -> str:
    """The bare address of ``Name <addr>`` (the SMTP envelope's MAIL FROM / RCPT TO)."""
    return parseaddr(" ".join(value.splitlines()))[1] or value.strip()


def _body(text: str) -> tuple[str, bytes]:
    """The transfer encoding and the encoded body, CRLF line ends."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if text.isascii() and all(len(line) <= _MAX_LINE for line in lines):
        return "7bit", "\r\n".join(lines).encode("ascii")
    raw = "\n".join(lines).encode("utf-8")
    encoded = quopri.encodestring(raw).replace(b"\n", b"\r\n")
    return "quoted-printable", encoded


def plain_text_mail(headers: Iterable[tuple[str, str]], body: str) -> bytes:
    """A text/plain UTF-8 mail: ``headers`` as (name, value) with values already made
    safe (:func:`header_value`, :func:`address`), then the MIME headers and the body."""
    encoding, encoded = _body(body)
    head = [f"{name}: {value}" for name, value in headers]
    head += [
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        f"Content-Transfer-Encoding: {encoding}",
    ]
    if not encoded.endswith(b"\r\n"):
        encoded += b"\r\n"
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + encoded
