"""Null for a field of a staff member or a competence that cannot be empty is a 422
naming the field (``crm_shared.fields.NotNull``), as on every PATCH route (issue 19)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from crm_gateway.schemas import CompetenceUpdate, StaffUpdate


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (StaffUpdate, "password"),
        (StaffUpdate, "name"),
        (StaffUpdate, "roles"),
        (StaffUpdate, "language"),
        (StaffUpdate, "active"),
        (CompetenceUpdate, "name"),
        (CompetenceUpdate, "member_ids"),
    ],
)
def test_null_for_a_field_that_cannot_be_empty_names_it(model: type[BaseModel], name: str) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate({name: None})
    assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [((name,), "not_null")]


def test_null_removes_the_address_and_the_initials() -> None:
    cleared = StaffUpdate.model_validate({"email": None, "initials": None})
    assert cleared.model_dump(exclude_unset=True) == {"email": None, "initials": None}
