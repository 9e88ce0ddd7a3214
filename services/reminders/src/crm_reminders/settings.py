"""Settings of the reminders service (``CRM_REMINDERS_*`` plus the system ``CRM_*``)."""

from pydantic_settings import SettingsConfigDict

from crm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_REMINDERS_", extra="ignore")

    service_name: str = "reminders"
    port: int = 8005
