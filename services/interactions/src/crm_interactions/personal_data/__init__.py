"""What the interactions service holds about one contact (GDPR Art. 15/20)."""
