"""The quick check of an import row: a record whose values are all plainly valid (no
whitespace to strip, known columns, within the limits) becomes its columns without a
pydantic call, which cost as much as the rest of the import together. Its rules are read
from ``ContactImport``, ``CrmIn`` and ``AddressIn`` (so they cannot drift apart); any
other record goes through ``parse.row_to_contact``, so a bad row gets pydantic's message
(a test checks both give the same columns)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, get_args

from pydantic import BaseModel

from crm_contacts.importing.parse import FALSE, TRUE
from crm_contacts.schemas import EMAIL_SHAPE, AddressIn, ContactImport, CrmIn
from crm_shared.fields import PlainText, Text

_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""What ``Text`` refuses (it allows tab, newline and carriage return)."""


def _max_length(model: type[BaseModel], name: str) -> int | None:
    limits = [m.max_length for m in model.model_fields[name].metadata if hasattr(m, "max_length")]
    return min(limits, default=None)


def _text_rule(limit: int | None, *, lines: bool = False) -> Callable[[str], str | None]:
    """A value within ``limit`` and without control characters: ``str.isprintable`` is a
    quick superset of ``PlainText``'s rule; free text (``Text``) may hold line breaks."""
    most = sys.maxsize if limit is None else limit

    def plain(raw: str) -> str | None:
        return raw if len(raw) <= most and raw.isprintable() else None

    def text(raw: str) -> str | None:
        ok = len(raw) <= most and (raw.isprintable() or not _TEXT_CONTROL.search(raw))
        return raw if ok else None

    return text if lines else plain


def _choice_rule(model: type[BaseModel], name: str) -> Callable[[str], str | None]:
    allowed = frozenset(get_args(model.model_fields[name].annotation))
    if not allowed:
        raise TypeError(f"{model.__name__}.{name} is not a Literal")
    return lambda raw: raw if raw in allowed else None


def _email_rule(limit: int | None) -> Callable[[str], str | None]:
    def rule(raw: str) -> str | None:
        return raw if (limit is None or len(raw) <= limit) and EMAIL_SHAPE.match(raw) else None

    return rule


def _flag_rule(raw: str) -> bool | None:
    lowered = raw.lower()
    return True if lowered in TRUE else False if lowered in FALSE else None


_MAX_EMPLOYEES = next(m.le for m in CrmIn.model_fields["employees"].metadata if hasattr(m, "le"))


def _employees_rule(raw: str) -> int | None:
    if not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if value <= _MAX_EMPLOYEES else None  # pydantic says why


_MAX_PRODUCTS = next(
    (m.max_length for m in CrmIn.model_fields["products"].metadata if hasattr(m, "max_length")),
    None,
)


def _products_rule(raw: str) -> list[str] | None:
    if not raw.isprintable():
        return None  # pydantic says why
    products = [p.strip() for p in raw.split(";") if p.strip()]
    if (_MAX_PRODUCTS is not None and len(products) > _MAX_PRODUCTS) or any(
        len(p) > 200 for p in products
    ):
        return None  # pydantic says why
    return list(dict.fromkeys(products))


_Rule = Callable[[str], Any]
_QUICK: dict[str, _Rule] = {
    "kind": _choice_rule(ContactImport, "kind"),
    "name": _text_rule(_max_length(ContactImport, "name")),
    "email": _email_rule(_max_length(ContactImport, "email")),
    "phone": _text_rule(_max_length(ContactImport, "phone")),
    "language": _choice_rule(ContactImport, "language"),
    "company_id": _text_rule(_max_length(ContactImport, "company_id")),
    "customer_number": _text_rule(_max_length(ContactImport, "customer_number")),
    "credit_hold": _flag_rule,
    "crm.employees": _employees_rule,
    "crm.newsletter": _flag_rule,
    "crm.interested": _flag_rule,
    "crm.products": _products_rule,
    **{
        f"crm.{name}": _text_rule(_max_length(CrmIn, name), lines=info.annotation == Text | None)
        for name, info in CrmIn.model_fields.items()
        if info.annotation in (PlainText | None, Text | None)
    },
    **{
        f"address.{name}": _text_rule(_max_length(AddressIn, name))
        for name in AddressIn.model_fields
    },
}
_CRM_ORDER = tuple(CrmIn.model_fields)
_ADDRESS_ORDER = tuple(AddressIn.model_fields)
_CRM_DEFAULTS = ("products", "characteristics")  # always in ``crm``, maybe empty
_ROW_DEFAULTS: dict[str, Any] = {  # the order of ``parse.columns_of``
    "kind": None,
    "name": None,
    "email": None,
    "phone": None,
    "language": "de",
    "company_id": None,
    "customer_number": None,
    "credit_hold": False,
}
QuickCheck = Callable[[list[str]], dict[str, Any] | None]


def quick_check(header: Sequence[str]) -> QuickCheck:
    """For a header: a function giving the columns of a record whose values are all
    plainly valid, as ``parse.columns_of`` would, without a pydantic call (that cost as much as
    the rest of the import together); None when a value needs pydantic, to be converted
    (surrounding whitespace) or refused with its message."""
    width = len(header)
    steps: list[tuple[int, str, _Rule]] = []
    for name in header:
        rule = _QUICK.get(name)
        if rule is None:  # a column pydantic checks (or refuses)
            return lambda values: None
        group, _dot, key = name.rpartition(".")
        steps.append((("", "crm", "address").index(group), key, rule))
    crm_keys = [k for k in _CRM_ORDER if f"crm.{k}" in header or k in _CRM_DEFAULTS]
    address_keys = [k for k in _ADDRESS_ORDER if f"address.{k}" in header]

    def check(values: list[str]) -> dict[str, Any] | None:
        if len(values) != width:
            return None
        row = dict(_ROW_DEFAULTS)
        crm: dict[str, Any] = {"products": [], "characteristics": {}}
        address: dict[str, Any] = {}
        targets = (row, crm, address)
        for raw, (group, key, rule) in zip(values, steps, strict=True):
            if raw == "":
                continue
            if raw != raw.strip():  # Python strips a superset of what pydantic strips
                return None
            value = rule(raw)
            if value is None:
                return None
            targets[group][key] = value
        if row["kind"] is None or row["name"] is None:
            return None
        row["address"] = {k: address[k] for k in address_keys if k in address} or None
        row["crm"] = {k: crm[k] for k in crm_keys if k in crm}
        return row

    return check


def quick_columns(header: list[str], values: list[str]) -> dict[str, Any] | None:
    """``quick_check(header)(values)``: one record."""
    return quick_check(header)(values)
