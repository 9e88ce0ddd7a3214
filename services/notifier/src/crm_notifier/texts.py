"""The notifier's words in German and English: the mail templates, the titles of push
notifications, and times as people in Berlin read them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from crm_shared.timezones import BERLIN

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = ("de", "en")
DATE_FORMATS = {"de": "%d.%m.%Y %H:%M", "en": "%d %b %Y, %H:%M"}

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


def local_time(moment: datetime, language: str) -> str:
    """A moment in Europe/Berlin time, written the way readers of ``language`` expect."""
    return moment.astimezone(BERLIN).strftime(DATE_FORMATS[language])


def title(kind: str, language: str, fields: dict[str, str]) -> str:
    """A notification's title in the staff member's language (German for any other)."""
    return TITLES[kind][language if language in LANGUAGES else "de"].format(**fields)


class Templates:
    """German and English Jinja2 mail templates with ``subject`` and ``body`` blocks."""

    def __init__(self) -> None:
        self._env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,  # noqa: S701 - plain-text mail
        )

    def render(self, name: str, language: str, context: dict[str, Any]) -> tuple[str, str]:
        lang = language if language in LANGUAGES else "de"
        template = self._env.get_template(f"{lang}/{name}.txt")
        blocks = {}
        for block in ("subject", "body"):
            ctx = template.new_context(context)
            blocks[block] = "".join(template.blocks[block](ctx)).strip()
        return blocks["subject"], blocks["body"] + "\n"
