"""The office's time zone: moments are stored in UTC and shown, and days begin and end,
in Europe/Berlin (follow-up dates are due at 08:00 there, mails show local times)."""

from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
