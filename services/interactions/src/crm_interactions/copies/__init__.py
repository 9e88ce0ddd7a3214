"""The local copies of contacts, staff members and campaigns (kept from events)."""
