"""Settings of the notifier (``CRM_NOTIFIER_*`` plus system ``CRM_*`` and ``CRM_SMTP_*``)."""

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from crm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_NOTIFIER_", extra="ignore")

    service_name: str = "notifier"
    port: int = 8006
    smtp_host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("CRM_SMTP_HOST"))
    smtp_port: int = Field(default=1025, validation_alias=AliasChoices("CRM_SMTP_PORT"))
    smtp_from: str = Field(
        default="CRM <crm@localhost>", validation_alias=AliasChoices("CRM_SMTP_FROM")
    )
    smtp_username: str | None = Field(
        default=None, validation_alias=AliasChoices("CRM_SMTP_USERNAME")
    )
    smtp_password: str | None = Field(
        default=None, validation_alias=AliasChoices("CRM_SMTP_PASSWORD")
    )
    smtp_starttls: bool = Field(default=False, validation_alias=AliasChoices("CRM_SMTP_STARTTLS"))
    smtp_timeout_seconds: float = 15.0
    smtp_pool_size: int = Field(default=4, ge=1)
    """SMTP connections kept open and used at the same time (``CRM_NOTIFIER_SMTP_POOL_SIZE``)."""
    smtp_rate_per_second: float = Field(default=0.0, ge=0)
    """At most this many mails a second to the mail server, over all connections; 0: as
    fast as it takes them (``CRM_NOTIFIER_SMTP_RATE_PER_SECOND``)."""
    # While the mail server is down, keep retrying (with backoff) this long before the
    # email is given up, reported as EmailFailed and its event dead-lettered.
    smtp_retry_seconds: float = 600.0
