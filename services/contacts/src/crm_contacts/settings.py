"""Settings of the contacts service (``CRM_CONTACTS_*`` plus the system ``CRM_*``)."""

from pydantic_settings import SettingsConfigDict

from crm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_CONTACTS_", extra="ignore")

    service_name: str = "contacts"
    port: int = 8001
    # A staff member or competence created a moment ago in the gateway may not have
    # reached our local copy (crm.staff) yet: wait this long before refusing it.
    assignee_wait_seconds: float = 5.0
    # rows per import transaction (one COPY batch each)
    import_batch_size: int = 2000
