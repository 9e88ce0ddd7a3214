"""The dashboard's nested groups, built from the API's flat ones (pure, no I/O).

``GET /api/dashboard`` answers one row per combination of the grouping fields' values,
ordered by those values; the page shows them as a tree: a row per group at each level,
with count, revenue potential and weighted revenue. A level's figures are the sum of the
groups below it, except above a product or campaign grouping: an opportunity with two
products counts once in each, so there the figures come from the API asked with the
shorter grouping (``exact_prefixes``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

GROUP_FIELDS = (
    "crm_status",
    "contact",
    "company_size",
    "revenue_group",
    "company_group",
    "product",
    "campaign",
    "assignee",
)
"""The grouping fields of ``/api/dashboard``, in the seed's order of the filters."""
FILTER_OF = {
    "crm_status": "crm_status",
    "contact": "contact_id",
    "company_size": "company_size",
    "revenue_group": "revenue_group",
    "company_group": "company_group",
    "product": "product",
    "campaign": "campaign_id",
    "assignee": "assignee_id",
}
"""The filter parameter that selects one value of each grouping field."""
MULTI_VALUED = frozenset({"product", "campaign"})

Path = tuple[tuple[str, Any], ...]


@dataclass
class Figures:
    count: int = 0
    revenue_potential: Decimal = field(default_factory=Decimal)
    weighted_revenue: Decimal = field(default_factory=Decimal)

    def add(self, group: Mapping[str, Any]) -> None:
        self.count += int(group["count"])
        self.revenue_potential += Decimal(str(group["revenue_potential"]))
        self.weighted_revenue += Decimal(str(group["weighted_revenue"]))

    def set(self, group: Mapping[str, Any]) -> None:
        self.count, self.revenue_potential, self.weighted_revenue = 0, Decimal(), Decimal()
        self.add(group)


@dataclass
class Row(Figures):
    """One group at one level: ``path`` holds (field, value) from the top level down."""

    path: Path = ()
    label: str | None = None
    leaf: bool = False

    @property
    def level(self) -> int:
        return len(self.path)

    @property
    def field(self) -> str:
        return self.path[-1][0]


def exact_prefixes(grouping: Sequence[str]) -> list[int]:
    """The levels (0 = the totals) whose figures the levels below cannot add up."""
    return [n for n in range(len(grouping)) if MULTI_VALUED & set(grouping[n:])]


def _path(group: Mapping[str, Any], fields: Sequence[str]) -> Path:
    return tuple((name, group["key"][name]) for name in fields)


def rows_of(
    groups: Sequence[Mapping[str, Any]],
    grouping: Sequence[str],
    *,
    exact: Mapping[int, Sequence[Mapping[str, Any]]],
    names: Mapping[str, Mapping[str, str]],
    limit: int,
) -> tuple[list[Row], bool, Figures]:
    """The rows in reading order (each group before its subgroups), at most ``limit``,
    whether there were more, and the totals."""
    by_path: dict[Path, Row] = {}
    rows: list[Row] = []
    total = Figures()
    for group in groups:
        path = _path(group, grouping)
        for depth in range(1, len(path) + 1):
            row = by_path.get(path[:depth])
            if row is None:
                name, value = path[depth - 1]
                label = None if value is None else names.get(name, {}).get(value, str(value))
                row = by_path[path[:depth]] = Row(
                    path=path[:depth], label=label, leaf=depth == len(path)
                )
                rows.append(row)
            row.add(group)
        total.add(group)
    for depth, shorter in exact.items():
        for group in shorter:
            if depth == 0:
                total.set(group)
            elif (row := by_path.get(_path(group, grouping[:depth]))) is not None:
                row.set(group)
    return rows[:limit], len(rows) > limit, total
