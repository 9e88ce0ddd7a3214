"""Settings of the history service (``CRM_HISTORY_*`` plus the system ``CRM_*``)."""

from pydantic_settings import SettingsConfigDict

from crm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_HISTORY_", extra="ignore")

    service_name: str = "history"
    port: int = 8002
