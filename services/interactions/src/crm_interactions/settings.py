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
