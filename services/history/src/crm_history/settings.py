"""Settings of the history service (``CRM_HISTORY_*`` plus the system ``CRM_*``)."""

from typing import Self

from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

from crm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_HISTORY_", extra="ignore")

    service_name: str = "history"
    port: int = 8002
    # The contacts service, which resolves the selections of bulk entries and mailings
    # (its contacts, groups and filters) when a job starts.
    contacts_url: str = "http://127.0.0.1:8001"
    # Rows per transaction of a bulk job (entries + outbox events + timeline items).
    job_batch_size: int = 1000
    # Fault injection for the crash tests only: pause this long after each job batch.
    fault_job_pause_seconds: float = 0.0

    @model_validator(mode="after")
    def _no_fault_injection_in_prod(self) -> Self:
        if self.env == "prod" and self.fault_job_pause_seconds:
            raise ValueError("fault injection (CRM_HISTORY_FAULT_*) is for tests only")
        return self
