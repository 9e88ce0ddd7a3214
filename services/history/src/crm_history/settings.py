"""Settings of the history service (``CRM_HISTORY_*`` plus the system ``CRM_*``)."""

from typing import Self

from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

from crm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_HISTORY_", extra="ignore")

    service_name: str = "history"
    port: int = 8002
    # A contact created a moment ago may not have reached our local copy yet: wait this
    # long for its ContactCreated event before answering 404.
    contact_wait_seconds: float = 5.0
    # Rows per transaction of a bulk job (entries + outbox events + timeline items).
    job_batch_size: int = 1000
    # Fault injection for the crash tests only: pause this long after each job batch.
    fault_job_pause_seconds: float = 0.0

    @model_validator(mode="after")
    def _no_fault_injection_in_prod(self) -> Self:
        if self.env == "prod" and self.fault_job_pause_seconds:
            raise ValueError("fault injection (CRM_HISTORY_FAULT_*) is for tests only")
        return self
