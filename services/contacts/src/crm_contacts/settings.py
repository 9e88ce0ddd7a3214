"""Settings of the contacts service (``CRM_CONTACTS_*`` plus the system ``CRM_*``)."""

from pydantic_settings import SettingsConfigDict

from crm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_CONTACTS_", extra="ignore")

    service_name: str = "contacts"
    port: int = 8001
