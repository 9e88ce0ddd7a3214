"""``GET /dev/mail[?format=json]`` (dev only): the dev SMTP sink's mailbox, every mail
the system sent, as a page or JSON."""

from __future__ import annotations

import html
import mailbox
from email.message import Message
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from crm_gateway.settings import Settings
from crm_shared.errors import NotFound

dev_router = APIRouter(tags=["dev"])


def _mail_summary(key: str, message: Message) -> dict[str, Any]:
    body = message.get_payload(decode=True)
    return {
        "id": key,
        "from": message.get("From"),
        "to": message.get("To"),
        "reply_to": message.get("Reply-To"),
        "subject": message.get("Subject"),
        "date": message.get("Date"),
        "message_id": message.get("Message-ID"),
        "body": body.decode(errors="replace") if isinstance(body, bytes) else str(body),
    }


@dev_router.get("/dev/mail", response_model=None)
async def dev_mail(request: Request, format: str = "html") -> Response:
    """The dev SMTP sink's mailbox (dev only): every mail the system sent."""
    settings: Settings = request.app.state.settings
    if settings.env != "dev" or settings.dev_maildir is None:
        raise NotFound("page", "/dev/mail")
    box = mailbox.Maildir(settings.dev_maildir, create=False)
    mails = sorted(
        (_mail_summary(k, m) for k, m in box.items()), key=lambda m: m["id"], reverse=True
    )
    if format == "json":
        return JSONResponse({"items": mails})
    rows = "".join(
        f"<article><h2>{html.escape(m['subject'] or '')}</h2>"
        f"<p><b>An / To:</b> {html.escape(m['to'] or '')} · <b>Antwort an / Reply-To:</b> "
        f"{html.escape(m['reply_to'] or '')} · {html.escape(m['date'] or '')}</p>"
        f"<pre>{html.escape(m['body'])}</pre></article>"
        for m in mails
    )
    empty = "<p>Keine E-Mails / No mail.</p>"
    return HTMLResponse(
        "<!doctype html><html lang='de'><meta charset='utf-8'><title>Postausgang (dev)</title>"
        f"<h1>Postausgang / Outbox (dev) — {len(mails)}</h1>{rows or empty}</html>"
    )
