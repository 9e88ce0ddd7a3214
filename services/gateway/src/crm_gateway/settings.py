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
    # for the requests of proxy.LONG_REQUESTS (a CSV import, a bulk action: each answers
    # when it is done)
    proxy_long_timeout_seconds: float = 900.0
    # how long the gateway remembers what a caller has seen (its consistency token) after
    # the caller's last write; copies are never expected to stay behind that long
    consistency_ttl_seconds: int = Field(default=3600, ge=60)
    # dev only (CRM_ENV=dev): the SMTP sink's Maildir, shown at /dev/mail
    dev_maildir: Path | None = None
    # limits (limits.py): failed logins per username and per client address within the
    # window, portal login links per email address within theirs, request body sizes
    login_failures_per_username: int = Field(default=10, ge=1)
    login_failures_per_address: int = Field(default=100, ge=1)
    login_window_seconds: float = Field(default=15 * 60, gt=0)
    login_links_per_email: int = Field(default=5, ge=1)
    login_link_window_seconds: float = Field(default=60 * 60, gt=0)
    max_public_body_bytes: int = Field(default=256 << 10, ge=1024)
    max_body_bytes: int = Field(default=8 << 20, ge=1024)
    max_import_bytes: int = Field(default=64 << 20, ge=1024)
    # behind a proxy: the header it writes the client's address into (X-Forwarded-For,
    # X-Real-IP; the last address in it counts); none: the TCP peer's address
    client_address_header: str | None = None

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
