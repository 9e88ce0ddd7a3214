"""The revenue-group rule over cents: an amount belongs to the first group of the admin's
``revenue_groups`` list (in list order) with ``min <= amount <= max``; in Python, and as
SQL over a cents column (the same rule on Decimal amounts:
``CrmSettingsData.revenue_group_of``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm_campaigns.crm_settings.schemas import CrmSettingsData


def revenue_group_index(settings: CrmSettingsData, cents: int) -> int | None:
    """1-based position of the first revenue group holding ``cents`` (list order)."""
    for i, group in enumerate(settings.revenue_groups, start=1):
        if cents >= int(group.min * 100) and (group.max is None or cents <= int(group.max * 100)):
            return i
    return None


def revenue_group_case(settings: CrmSettingsData, cents: Any, *, names: bool = False) -> Any:
    """The same as :func:`revenue_group_index` as SQL over a cents column: the group's
    position, or with ``names`` its name (NULL in no group)."""
    whens = []
    for i, group in enumerate(settings.revenue_groups, start=1):
        condition = cents >= int(group.min * 100)
        if group.max is not None:
            condition = sa.and_(condition, cents <= int(group.max * 100))
        whens.append((condition, sa.literal(group.name if names else i)))
    if not whens:
        return sa.null()
    return sa.case(*whens, else_=sa.null())
