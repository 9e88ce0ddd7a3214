"""Settings of the gateway (``CRM_GATEWAY_*``, ``CRM_ADMIN_*`` and system ``CRM_*``)."""

from pathlib import Path
from typing import Self

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

from crm_shared.settings import ServiceSettings

SERVICES = ("contacts", "history", "interactions", "campaigns", "reminders", "notifier")
DEV_ADMIN_PASSWORD = "admin"  # noqa: S105 - the dev default of CONTRACT.md, refused in prod


def _system(name: str) -> AliasChoices:
    return AliasChoices(name)


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_GATEWAY_", extra="ignore")

    service_name: str = "gateway"
    port: int = Field(default=8000, validation_alias=_system("CRM_GATEWAY_PORT"))
    admin_username: str = Field(default="admin", validation_alias=_system("CRM_ADMIN_USERNAME"))
    admin_password: str = Field(
        default=DEV_ADMIN_PASSWORD, validation_alias=_system("CRM_ADMIN_PASSWORD")
    )
    admin_email: str = Field(default="admin@localhost", validation_alias=_system("CRM_ADMIN_EMAIL"))
    token_ttl_minutes: int = 12 * 60
    contacts_url: str | None = "http://127.0.0.1:8001"
    history_url: str | None = None
    interactions_url: str | None = "http://127.0.0.1:8003"
    campaigns_url: str | None = None
    reminders_url: str | None = None
    notifier_url: str | None = "http://127.0.0.1:8006"
    proxy_timeout_seconds: float = 30.0
    # for the requests of proxy.LONG_REQUESTS (a CSV import answers when it is done)
    proxy_long_timeout_seconds: float = 900.0
    # how long the gateway remembers what a caller has seen (its consistency token) after
    # the caller's last write; copies are never expected to stay behind that long
    consistency_ttl_seconds: int = Field(default=3600, ge=60)
    # dev only: the SMTP sink's Maildir, shown at /dev/mail
    dev_maildir: Path | None = None

    @model_validator(mode="after")
    def _refuse_dev_admin_password(self) -> Self:
        if self.env == "prod" and self.admin_password == DEV_ADMIN_PASSWORD:
            raise ValueError("CRM_ADMIN_PASSWORD must be set outside dev")
        return self

    @property
    def public_address(self) -> str:
        """Where people reach the gateway (``CRM_PUBLIC_URL``, else its own address)."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def service_urls(self) -> dict[str, str]:
        """The services this gateway routes to (those with a URL)."""
        urls = {name: getattr(self, f"{name}_url") for name in SERVICES}
        return {name: url.rstrip("/") for name, url in urls.items() if url}
