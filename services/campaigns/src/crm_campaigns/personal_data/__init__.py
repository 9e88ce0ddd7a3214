"""What the campaigns service holds about one contact (GDPR Art. 15/20)."""
