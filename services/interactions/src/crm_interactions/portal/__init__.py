"""The customer portal (seed 001): login links, sessions, the customer's own view."""
