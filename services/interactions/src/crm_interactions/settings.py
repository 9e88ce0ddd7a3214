"""Settings of the interactions service (``CRM_INTERACTIONS_*`` plus system ``CRM_*``)."""

from pydantic_settings import SettingsConfigDict

from crm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_INTERACTIONS_", extra="ignore")

    service_name: str = "interactions"
    port: int = 8003
    portal_token_minutes: int = 15
    # A login link asked for an address no contact has here yet (its ContactCreated may
    # be on its way) is sent if a contact gets that address within this time.
    portal_pending_minutes: int = 15
    # how often waiting login-link requests are checked against the contact copy
    portal_pending_poll_seconds: float = 1.0
    portal_session_hours: float = 8.0
    # Send the portal cookie only over HTTPS (set true behind TLS in production).
    portal_cookie_secure: bool = False

    @property
    def portal_base_url(self) -> str:
        """Login links point to ``<CRM_PUBLIC_URL>/portal/login?token=…`` (the gateway's
        page, which opens the session); without it, the gateway's default address."""
        return (self.public_url or "http://127.0.0.1:8000").rstrip("/")
