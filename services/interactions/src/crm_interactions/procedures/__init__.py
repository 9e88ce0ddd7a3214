"""Procedures (Kontaktvorgänge, seed 004): planned, done or not done."""
