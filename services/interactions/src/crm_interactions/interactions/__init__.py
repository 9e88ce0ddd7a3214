"""Customer interactions (seed 001): recorded by staff, or by the customer in the portal."""
