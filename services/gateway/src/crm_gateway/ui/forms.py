"""Forms: what was typed, and the API's problems as messages beside the fields.

A problem+json names the field (``errors[].field``, or ``field`` of a conflict) and, for
validation, the kind of error (``errors[].type``, pydantic's). The page shows each message
next to its field and in a summary at the top, in the reader's language: known kinds
and known conflicts are translated here; any other message is shown as the service
wrote it. The values the person typed are always sent back into the form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from crm_gateway.ui.client import ApiError
from crm_shared.timezones import BERLIN

if TYPE_CHECKING:
    from crm_gateway.ui.context import Page


@dataclass
class FormErrors:
    """Messages by field (API field names), and those no field of the form shows."""

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    def get(self, name: str) -> str | None:
        return self.fields.get(name)

    def summary(self) -> list[tuple[str, str]]:
        """(field, message) pairs for the summary at the top ("" = no field)."""
        return [*self.fields.items(), *(("", message) for message in self.general)]


async def form_data(request: Request) -> dict[str, str]:
    """The submitted form, one value per name (the last one of repeated names)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _by_kind(page: Page, kind: str, field_name: str, message: str) -> str:
    """The reader's wording for a validation error of pydantic's ``kind``."""
    _ = page._
    if kind in ("missing", "string_too_short") or (kind == "value_error" and "empty" in message):
        return _("Bitte ausfüllen.")
    if kind == "string_too_long":
        return _("Der Text ist zu lang.")
    if "email" in field_name or "email address" in message:
        return _("Bitte geben Sie eine gültige E-Mail-Adresse an, z. B. name@beispiel.de.")
    if kind in ("int_parsing", "int_type", "decimal_parsing", "float_parsing"):
        return _("Bitte geben Sie eine Zahl an.")
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return _("Die Zahl liegt außerhalb des erlaubten Bereichs.")
    if kind.startswith(("date", "datetime")):
        return _("Bitte geben Sie ein gültiges Datum an.")
    if kind in ("literal_error", "enum"):
        return _("Bitte wählen Sie einen der angebotenen Werte.")
    return message


def _known_rule(page: Page, code: object) -> str | None:
    """The reader's wording for the rules the pages lead to (by the problem's ``code``)."""
    _ = page._
    messages = {
        "customer_number_taken": _("Diese Kundennummer ist schon vergeben."),
        "confirmation_required": _("Bitte bestätigen Sie den Wechsel zum Kunden."),
        "contact_inbox": _(
            "Der Kontakt ist im Eingang: nehmen Sie ihn zuerst an, dann ist das möglich."
        ),
        "contact_archived": _(
            "Der Kontakt ist archiviert: stellen Sie ihn zuerst wieder her, dann ist das möglich."
        ),
        "recorder_without_email": _(
            "Ohne eigene E-Mail-Adresse können Sie dem Kunden nichts senden; "
            "bitten Sie die Verwaltung, Ihre Adresse einzutragen, oder wählen Sie „Intern“."
        ),
        "campaign_retired": _("Die Kampagne ist beendet und kann nicht mehr gewählt werden."),
        "measure_needs_campaign": _(
            "Eine Maßnahme gehört zu einer Kampagne: bitte wählen Sie eine."
        ),
        "planned_without_duration": _(
            "Ein geplanter Kontaktvorgang hat die Dauer 00:00; "
            "die Dauer tragen Sie ein, wenn er durchgeführt ist."
        ),
        "username_taken": _("Dieser Benutzername ist schon vergeben."),
    }
    return messages.get(code) if isinstance(code, str) else None


def minutes(text: str) -> int | None:
    """A duration as the seeds write it, ``hh:mm`` (``1:30``), or plain minutes (``90``)."""
    hours, sep, mins = text.strip().partition(":")
    if not sep:
        return int(hours) if hours.isdigit() else None
    if hours.isdigit() and mins.isdigit() and len(mins) == 2 and int(mins) < 60:
        return int(hours) * 60 + int(mins)
    return None


def renamed(errors: FormErrors, names: Mapping[str, str]) -> FormErrors:
    """The errors with API field names replaced by the form's (``duration_minutes`` is
    typed as ``duration`` in hh:mm)."""
    return FormErrors(
        fields={names.get(k, k): v for k, v in errors.fields.items()}, general=errors.general
    )


def form_errors(page: Page, problem: ApiError, known_fields: Mapping[str, Any] = {}) -> FormErrors:
    """The problem's messages by field, in the reader's language.

    ``known_fields`` are the fields the form shows; a message for any other field goes to
    the summary alone (with its field name), so nothing the service says is hidden."""
    errors = FormErrors()
    translated = _known_rule(page, problem.body.get("code"))
    field_name = problem.body.get("field")
    for item in problem.errors:
        name = str(item.get("field") or "")
        kind = str(item.get("type") or "")
        message = _known_rule(page, kind) or _by_kind(
            page, kind, name, str(item.get("message", ""))
        )
        if name and (not known_fields or name in known_fields):
            errors.fields.setdefault(name, message)
        else:
            errors.general.append(f"{name}: {message}" if name else message)
    if not problem.errors:
        message = translated or problem.detail
        if isinstance(field_name, str) and (not known_fields or field_name in known_fields):
            errors.fields[field_name] = message
        else:
            errors.general.append(message)
    return errors


def blank_to_none(form: Mapping[str, str], *names: str) -> dict[str, Any]:
    """The named fields, an empty one as ``None`` (the API's "not set")."""
    return {name: (form.get(name, "").strip() or None) for name in names}


def aware(local: str) -> str | None:
    """A ``datetime-local`` value (Berlin time) as ISO 8601 with its offset."""
    if not local.strip():
        return None
    try:
        return datetime.fromisoformat(local).replace(tzinfo=BERLIN).isoformat()
    except ValueError:
        return local  # the API names the field and says what is wrong


def duration(page: Page, form: Mapping[str, str], required: bool) -> int | FormErrors | None:
    """The form's ``duration`` (hh:mm) in minutes, or the message for the field."""
    text = form.get("duration", "").strip()
    if not text:
        return FormErrors(fields={"duration": page._("Bitte ausfüllen.")}) if required else None
    value = minutes(text)
    if value is None:
        return FormErrors(
            fields={"duration": page._("Bitte als Stunden:Minuten angeben, z. B. 0:45.")}
        )
    return value
