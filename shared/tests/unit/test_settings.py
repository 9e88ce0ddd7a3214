"""Service settings: the service's ``CRM_<SERVICE>_*`` variables and the system ``CRM_*``."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from crm_shared.service import tune_gc
from crm_shared.settings import DEV_JWT_SECRET, ServiceSettings

PROD_SECRET = "a-real-production-secret-of-enough-length-42"


class FooSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_FOO_")

    service_name: str = "foo"
    port: int = 8123


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CRM_* variable of the machine (or of another test) leaks in."""
    for name in list(os.environ):
        if name.upper().startswith("CRM_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = FooSettings()
    assert settings.service_name == "foo"
    assert settings.env == "dev"
    assert settings.port == 8123
    assert settings.database_url is None
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.jwt_secret == DEV_JWT_SECRET
    assert settings.source == "/crm/foo"


def test_service_variables_carry_the_service_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_FOO_PORT", "9101")
    monkeypatch.setenv("CRM_FOO_DATABASE_URL", "postgresql+asyncpg://u:p@db:5432/foo")
    monkeypatch.setenv("CRM_FOO_HOST", "0.0.0.0")  # noqa: S104
    monkeypatch.setenv("PORT", "1")  # unprefixed: not ours
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///wrong.db")
    monkeypatch.setenv("CRM_BAR_PORT", "2")  # another service's

    settings = FooSettings()
    assert settings.port == 9101
    assert settings.database_url == "postgresql+asyncpg://u:p@db:5432/foo"
    assert settings.effective_database_url == "postgresql+asyncpg://u:p@db:5432/foo"
    assert settings.host == "0.0.0.0"  # noqa: S104


def test_system_variables_are_read_without_the_prefix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CRM_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("CRM_REDIS_URL", "redis://cache:6379/3")
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CRM_ENV", "test")
    monkeypatch.setenv("CRM_JWT_SECRET", PROD_SECRET)
    monkeypatch.setenv("CRM_LOG_FORMAT", "json")
    monkeypatch.setenv("CRM_OUTBOX_SWEEP_SECONDS", "0.5")
    monkeypatch.setenv("CRM_CONSUMER_MAX_ATTEMPTS", "7")

    settings = FooSettings()
    assert settings.kafka_bootstrap == "kafka-1:9092,kafka-2:9092"
    assert settings.redis_url == "redis://cache:6379/3"
    assert settings.data_dir == tmp_path / "data"
    assert settings.env == "test"
    assert settings.jwt_secret == PROD_SECRET
    assert settings.log_format == "json"
    assert settings.outbox_sweep_seconds == 0.5
    assert settings.consumer_max_attempts == 7


def test_system_variable_wins_over_a_prefixed_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_KAFKA_BOOTSTRAP", "system:9092")
    monkeypatch.setenv("CRM_FOO_KAFKA_BOOTSTRAP", "prefixed:9092")
    assert FooSettings().kafka_bootstrap == "system:9092"


@pytest.mark.xfail(
    strict=True,
    reason="known: with validate_by_name (needed so Settings(kafka_bootstrap=...) works) "
    "pydantic-settings also reads system fields under the service prefix when the system "
    "variable is unset; the system variable still wins when both are set",
)
@pytest.mark.parametrize(
    ("variable", "field", "value"),
    [
        ("CRM_FOO_KAFKA_BOOTSTRAP", "kafka_bootstrap", "prefixed:9092"),
        ("CRM_FOO_REDIS_URL", "redis_url", "redis://prefixed:6379/0"),
        ("CRM_FOO_ENV", "env", "test"),
    ],
)
def test_prefixed_system_variables_are_ignored(
    monkeypatch: pytest.MonkeyPatch, variable: str, field: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    assert getattr(FooSettings(), field) != value


def test_keyword_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_FOO_PORT", "9101")
    monkeypatch.setenv("CRM_KAFKA_BOOTSTRAP", "env:9092")
    settings = FooSettings(port=9200, kafka_bootstrap="injected:9092")
    assert settings.port == 9200
    assert settings.kafka_bootstrap == "injected:9092"


def test_effective_database_url_falls_back_to_sqlite_in_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CRM_DATA_DIR", str(tmp_path / "crm-data"))
    settings = FooSettings()
    assert settings.database_url is None
    expected = (tmp_path / "crm-data" / "foo.db").resolve()
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{expected}"


def test_relative_data_dir_becomes_an_absolute_sqlite_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    url = FooSettings(data_dir=Path("rel")).effective_database_url
    assert url == f"sqlite+aiosqlite:///{(tmp_path / 'rel' / 'foo.db').resolve()}"
    assert url.startswith("sqlite+aiosqlite:////")  # four slashes: an absolute path


def test_prod_refuses_the_dev_jwt_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_ENV", "prod")
    with pytest.raises(ValidationError, match="CRM_JWT_SECRET"):
        FooSettings()


def test_prod_accepts_a_real_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_ENV", "prod")
    monkeypatch.setenv("CRM_JWT_SECRET", PROD_SECRET)
    settings = FooSettings()
    assert settings.env == "prod"
    assert settings.jwt_secret == PROD_SECRET


@pytest.mark.parametrize("env", ["dev", "test"])
def test_dev_secret_is_fine_outside_prod(monkeypatch: pytest.MonkeyPatch, env: str) -> None:
    monkeypatch.setenv("CRM_ENV", env)
    assert FooSettings().jwt_secret == DEV_JWT_SECRET


@pytest.mark.parametrize(
    "variable", ["CRM_FAULT_HOLD_AFTER_COMMIT_SECONDS", "CRM_FAULT_HOLD_BEFORE_ACK_SECONDS"]
)
def test_fault_injection_is_refused_in_prod(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv("CRM_ENV", "prod")
    monkeypatch.setenv("CRM_JWT_SECRET", PROD_SECRET)
    monkeypatch.setenv(variable, "3")
    with pytest.raises(ValidationError, match="fault injection"):
        FooSettings()


def test_fault_injection_is_allowed_in_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_ENV", "test")
    monkeypatch.setenv("CRM_FAULT_HOLD_AFTER_COMMIT_SECONDS", "2.5")
    monkeypatch.setenv("CRM_FAULT_HOLD_BEFORE_ACK_SECONDS", "1")
    settings = FooSettings()
    assert settings.fault_hold_after_commit_seconds == 2.5
    assert settings.fault_hold_before_ack_seconds == 1.0


@pytest.mark.parametrize(
    ("variable", "value"),
    [("CRM_ENV", "staging"), ("CRM_FOO_PORT", "eighty"), ("CRM_LOG_FORMAT", "xml")],
)
def test_invalid_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        FooSettings()


def test_gc_thresholds_default_and_read_from_the_system_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert FooSettings().gc_threshold == (50_000, 20, 100)
    monkeypatch.setenv("CRM_GC_THRESHOLD", "700, 10,10")
    assert FooSettings().gc_threshold == (700, 10, 10)


@pytest.mark.parametrize("value", ["0,10,10", "700,10", "700,10,10,10", "many,10,10", ""])
def test_gc_thresholds_refuse_what_is_not_three_positive_numbers(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CRM_GC_THRESHOLD", value)
    with pytest.raises(ValidationError, match="CRM_GC_THRESHOLD"):
        FooSettings()


def test_tune_gc_freezes_what_exists_and_sets_the_thresholds() -> None:
    before = gc.get_threshold()
    try:
        tune_gc((12_345, 6, 78))
        assert gc.get_threshold() == (12_345, 6, 78)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
