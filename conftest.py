"""Root of the test suite: real servers come from the crm_dev.testing plugin."""

pytest_plugins = ["crm_dev.testing"]
