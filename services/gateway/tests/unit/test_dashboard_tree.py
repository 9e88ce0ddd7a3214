"""The dashboard's nested groups from the API's flat ones."""

from __future__ import annotations

from decimal import Decimal

from crm_gateway.ui.dashboard_tree import exact_prefixes, rows_of


def group(count: int, revenue: str, weighted: str, **key: object) -> dict[str, object]:
    return {"key": key, "count": count, "revenue_potential": revenue, "weighted_revenue": weighted}


def test_each_group_comes_before_its_subgroups_with_their_sums() -> None:
    groups = [
        group(2, "100.00", "50.00", crm_status="A", company_size="1-9"),
        group(1, "10.00", "1.00", crm_status="A", company_size=None),
        group(3, "300.00", "30.00", crm_status="B", company_size="1-9"),
    ]
    rows, more, total = rows_of(
        groups, ["crm_status", "company_size"], exact={}, names={}, limit=100
    )
    assert [(r.path, r.count, r.leaf) for r in rows] == [
        ((("crm_status", "A"),), 3, False),
        ((("crm_status", "A"), ("company_size", "1-9")), 2, True),
        ((("crm_status", "A"), ("company_size", None)), 1, True),
        ((("crm_status", "B"),), 3, False),
        ((("crm_status", "B"), ("company_size", "1-9")), 3, True),
    ]
    assert rows[0].revenue_potential == Decimal("110.00")
    assert rows[2].label is None  # shown as "(ohne Angabe)"
    assert (total.count, total.weighted_revenue, more) == (6, Decimal("81.00"), False)


def test_above_a_multi_valued_grouping_the_figures_come_from_the_shorter_query() -> None:
    # one opportunity with two products: once per product, once in its status and total
    groups = [
        group(1, "100.00", "50.00", crm_status="A", product="X"),
        group(1, "100.00", "50.00", crm_status="A", product="Y"),
    ]
    assert exact_prefixes(["crm_status", "product"]) == [0, 1]
    assert exact_prefixes(["product", "crm_status"]) == [0]
    assert exact_prefixes(["crm_status", "company_size"]) == []
    rows, _, total = rows_of(
        groups,
        ["crm_status", "product"],
        exact={0: [group(1, "100.00", "50.00")], 1: [group(1, "100.00", "50.00", crm_status="A")]},
        names={},
        limit=100,
    )
    assert [r.count for r in rows] == [1, 1, 1]
    assert total.count == 1 and total.revenue_potential == Decimal("100.00")


def test_ids_are_shown_by_name_and_long_trees_are_cut() -> None:
    groups = [group(1, "1.00", "1.00", assignee=f"s{i}") for i in range(5)]
    rows, more, _ = rows_of(
        groups, ["assignee"], exact={}, names={"assignee": {"s0": "Anna"}}, limit=3
    )
    assert [r.label for r in rows] == ["Anna", "s1", "s2"]
    assert more
