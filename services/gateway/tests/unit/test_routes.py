"""Which service owns which API path (pure unit test of the routing table)."""

import pytest

from crm_gateway.proxy import owner_of


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/contacts", "contacts"),
        ("/api/contacts/abc", "contacts"),
        ("/api/contacts/abc/status", "contacts"),
        ("/api/contacts/abc/history", "history"),
        ("/api/contacts/abc/timeline", "history"),
        ("/api/number-ranges", "contacts"),
        ("/api/groups/g1/members", "contacts"),
        ("/api/interactions", "interactions"),
        ("/api/procedures/p1/complete", "interactions"),
        ("/api/campaigns/c1/members", "campaigns"),
        ("/api/dashboard", "campaigns"),
        ("/api/reminders/rules", "reminders"),
        ("/api/notifications/stream", "notifier"),
        ("/api/jobs/j1", "history"),
        ("/api/audit", "history"),
        ("/api/contacts/abc/personal-data/contacts", "contacts"),
        ("/api/contacts/abc/personal-data/history", "history"),
        ("/api/contacts/abc/personal-data/interactions", "interactions"),
        ("/api/contacts/abc/personal-data/campaigns", "campaigns"),
        ("/api/contacts/abc/personal-data/reminders", "reminders"),
        ("/api/contacts/abc/personal-data/notifier", "notifier"),
    ],
)
def test_owner(path: str, service: str) -> None:
    assert owner_of(path) == service


def test_unknown_paths_have_no_owner() -> None:
    assert owner_of("/api/contactsX") is None
    assert owner_of("/api/unknown") is None
