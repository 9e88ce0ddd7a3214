"""Per-service settings: the service's own ``CRM_<SERVICE>_*`` variables plus the
system-wide ``CRM_*`` variables of CONTRACT.md.

Settings are built by the service's factory, never at import time, so tests can inject
real server addresses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_JWT_SECRET = "crm-dev-secret-change-me-0123456789abcdef"  # noqa: S105 - dev only, refused in prod


def _system(name: str) -> AliasChoices:
    """A field read from a system-wide variable, unaffected by the service prefix."""
    return AliasChoices(name)


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses set ``env_prefix='CRM_<SERVICE>_'``."""

    model_config = SettingsConfigDict(extra="ignore", validate_by_name=True)

    service_name: str = "service"
    env: Literal["dev", "test", "prod"] = Field(default="dev", validation_alias=_system("CRM_ENV"))
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str | None = None
    data_dir: Path = Field(default=Path(".crm"), validation_alias=_system("CRM_DATA_DIR"))
    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092", validation_alias=_system("CRM_KAFKA_BOOTSTRAP")
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0", validation_alias=_system("CRM_REDIS_URL")
    )
    # The address people use to reach the gateway; every link in a mail starts with it.
    public_url: str | None = Field(default=None, validation_alias=_system("CRM_PUBLIC_URL"))
    jwt_secret: str = Field(default=DEV_JWT_SECRET, validation_alias=_system("CRM_JWT_SECRET"))
    log_level: str = Field(default="INFO", validation_alias=_system("CRM_LOG_LEVEL"))
    log_format: Literal["console", "json"] = Field(
        default="console", validation_alias=_system("CRM_LOG_FORMAT")
    )
    # False where something else migrates first (the chart's migration Job): the service
    # then only checks that the database is at its revision (crm_shared.migrations.check)
    migrate_at_start: bool = Field(default=True, validation_alias=_system("CRM_MIGRATE_AT_START"))
    outbox_sweep_seconds: float = Field(
        default=2.0, validation_alias=_system("CRM_OUTBOX_SWEEP_SECONDS")
    )
    consumer_max_attempts: int = Field(
        default=5, validation_alias=_system("CRM_CONSUMER_MAX_ATTEMPTS")
    )
    # events a consumer applies in one transaction (and takes per fetch); 1 = one by one
    consumer_batch_size: int = Field(
        default=200, ge=1, validation_alias=_system("CRM_CONSUMER_BATCH_SIZE")
    )
    # How long a read waits for a local copy to reach what the caller has seen (its
    # consistency token) or for a row created a moment ago, before a 503 (or a 404/422
    # for a row that is not there): crm_shared.copies.wait_for_copy.
    copy_wait_seconds: float = Field(
        default=5.0, gt=0, validation_alias=_system("CRM_COPY_WAIT_SECONDS")
    )
    # The cyclic garbage collector's thresholds (generations 0, 1, 2) once the service is
    # up, as "50000,20,100"; Python's own are 700,10,10. See crm_shared.service.tune_gc.
    gc_threshold: Annotated[tuple[int, int, int], NoDecode] = Field(
        default=(50_000, 20, 100), validation_alias=_system("CRM_GC_THRESHOLD")
    )
    # Fault injection for the crash tests only: hold an effect this long at a point where
    # a crash must not lose or repeat anything, so a test can SIGKILL the process there.
    fault_hold_after_commit_seconds: float = Field(
        default=0.0, validation_alias=_system("CRM_FAULT_HOLD_AFTER_COMMIT_SECONDS")
    )
    fault_hold_before_ack_seconds: float = Field(
        default=0.0, validation_alias=_system("CRM_FAULT_HOLD_BEFORE_ACK_SECONDS")
    )

    @field_validator("gc_threshold", mode="before")
    @classmethod
    def _thresholds(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(","))
        return value

    @field_validator("gc_threshold")
    @classmethod
    def _positive_gen0(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        if min(value) < 1:
            raise ValueError("three whole numbers of at least 1, e.g. 50000,20,100")
        return value

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_prod(self) -> Self:
        if self.env == "prod" and self.jwt_secret == DEV_JWT_SECRET:
            raise ValueError("CRM_JWT_SECRET must be set outside dev")
        if self.env == "prod" and (
            self.fault_hold_after_commit_seconds or self.fault_hold_before_ack_seconds
        ):
            raise ValueError("fault injection (CRM_FAULT_*) is for tests only")
        return self

    @property
    def effective_database_url(self) -> str:
        """The configured database, or a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        path = (self.data_dir / f"{self.service_name}.db").resolve()
        return f"sqlite+aiosqlite:///{path}"

    @property
    def source(self) -> str:
        """CloudEvent ``source`` of this service."""
        return f"/crm/{self.service_name}"
