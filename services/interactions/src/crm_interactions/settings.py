"""Settings of the interactions service (``CRM_INTERACTIONS_*`` plus system ``CRM_*``)."""

from pydantic_settings import SettingsConfigDict

from crm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_INTERACTIONS_", extra="ignore")

    service_name: str = "interactions"
    port: int = 8003
    # A contact created a moment ago may not have reached our local copy yet: wait this
    # long for its ContactCreated event before refusing an unknown contact.
    contact_wait_seconds: float = 5.0
    # Campaigns and staff members come by events too: the same short wait for them.
    portal_token_minutes: int = 15
    portal_session_hours: float = 8.0
    # Send the portal cookie only over HTTPS (set true behind TLS in production).
    portal_cookie_secure: bool = False

    @property
    def portal_base_url(self) -> str:
        """Login links point to ``<CRM_PUBLIC_URL>/portal/login?token=…`` (the gateway's
        page, which opens the session); without it, the gateway's default address."""
        return (self.public_url or "http://127.0.0.1:8000").rstrip("/")
