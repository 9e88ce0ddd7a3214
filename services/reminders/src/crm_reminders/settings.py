"""Settings of the reminders service (``CRM_REMINDERS_*`` plus the system ``CRM_*``)."""

from pydantic_settings import SettingsConfigDict

from crm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_REMINDERS_", extra="ignore")

    service_name: str = "reminders"
    port: int = 8005
    # The scheduler looks for due reminders at least this often (and sooner when the next
    # one is due sooner), so a reminder fires within this delay of its time.
    poll_seconds: float = 0.2
    # A claimed reminder whose replica crashed before finishing goes back to the schedule
    # after this lease.
    claim_lease_seconds: float = 30.0
    claim_batch: int = 500
    # Reminders due within this horizon are re-added to the Redis schedule from the
    # database every sweep (covers a Redis restart or a lost write).
    sweep_seconds: float = 30.0
    redis_prefix: str = "crm:reminders"
