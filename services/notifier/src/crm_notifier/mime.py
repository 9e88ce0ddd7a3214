"""The bytes of a plain-text mail, written directly.

The standard library's :class:`email.message.EmailMessage` parses every header it is given
and folds it again on output: about 1.4 ms of CPU per mail here, more than all the rest of
the notifier's work for it (issue 17's profile of a mailing). The notifier's mails are all
alike (text/plain, UTF-8, a handful of headers), so this module writes them out itself
(about 11 µs a mail): ASCII header values as they are, others as RFC 2047 encoded words,
a body that is plain ASCII with short lines as ``7bit``, any other as quoted-printable.
A bare address stays as it is; one with a name goes through
:func:`email.utils.formataddr`, which encodes a name that is not ASCII; an address that
is not ASCII itself (``jörg@example.com``) stays raw UTF-8 and the mail goes with SMTPUTF8.
Values come from staff and customers: a line break in one becomes a space, so no one can
add a header.
"""

from __future__ import annotations

import base64
import functools
import quopri
import re
from collections.abc import Iterable
from email.header import Header
from email.utils import formataddr, parseaddr, quote

_MAX_LINE = 998  # RFC 5322 2.1.1, without CRLF
_WORD_BYTES = 45  # 60 characters of base64, 72 with the word's frame
_BARE_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")


def header_value(name: str, value: str) -> str:
    """Header ``name``'s value on one logical line: ASCII as it is (folded where it is
    long), other text as encoded words."""
    value = " ".join(value.splitlines())
    if value.isascii():
        if len(name) + len(value) < 900:
            return value
        return Header(value, "us-ascii", header_name=name).encode(linesep="\r\n")
    return encoded_words(value)


def encoded_words(text: str) -> str:
    """``text`` as RFC 2047 encoded words (UTF-8, base64), one per folded line, each of
    at most 45 bytes of whole characters (72 characters on its line)."""
    words: list[str] = []
    chunk = bytearray()
    for char in text:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > _WORD_BYTES:
            words.append(_word(chunk))
            chunk.clear()
        chunk += encoded
    words.append(_word(chunk))
    return "\r\n ".join(words)


def _word(chunk: bytes | bytearray) -> str:
    return f"=?utf-8?b?{base64.b64encode(chunk).decode('ascii')}?="


def address(value: str) -> str:
    """An address header's value: ``Name <addr>`` with the name encoded if it needs to."""
    value = " ".join(value.splitlines())
    if _is_bare_address(value):
        return value
    return _formatted_address(value)


@functools.lru_cache(maxsize=256)
def _formatted_address(value: str) -> str:
    name, addr = parseaddr(value)
    if not addr:
        return header_value("To", value)
    if not addr.isascii():  # sent with SMTPUTF8: the header is raw UTF-8 (RFC 6532)
        return f'"{quote(name)}" <{addr}>' if name else addr
    return formataddr((name, addr), charset="utf-8")


def envelope_address(value: str) -> str:
    """The bare address of ``Name <addr>`` (the SMTP envelope's MAIL FROM / RCPT TO)."""
    value = " ".join(value.splitlines())
    if _is_bare_address(value):
        return value
    return parseaddr(value)[1] or value.strip()


def needs_smtputf8(*addresses: str) -> bool:
    """Whether an envelope address is not ASCII (``jörg@example.com``): such a mail goes
    with the SMTPUTF8 option, its address headers raw UTF-8 (RFC 6531, 6532)."""
    return not all(address.isascii() for address in addresses)


def _is_bare_address(value: str) -> bool:
    """``local@domain`` alone, nothing a parser would have to take apart (most
    recipients: the addresses the contacts service checked)."""
    return value.isascii() and _BARE_ADDRESS.fullmatch(value) is not None


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
    # ASCII unless an address is not (then the mail goes with SMTPUTF8)
    return ("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + encoded
