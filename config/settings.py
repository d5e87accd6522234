"""One validated settings class: environment variables `PHOIHOP_*` and an optional TOML file.

Order of precedence: environment, then the TOML file named by `PHOIHOP_CONFIG`
(default `<data dir>/phoihop.toml` when it exists), then the defaults below.
The profile `local` (default) means SQLite in the data directory and a local
mail sink; `production` refuses placeholder secrets.
"""

from __future__ import annotations

import os
import tomllib
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

# a run is marked Crashed only after this many heartbeat periods of silence: 3 missed
# plus one of margin (heartbeats were seen 180.03 s apart at a 180 s frequency)
SAFE_HEARTBEATS = 4
PLACEHOLDERS = {"", "changeme", "change-me", "secret", "password", "xxx", "todo"}


def default_data_dir() -> Path:
    """Per-user data directory: `$XDG_DATA_HOME/phoihop` or `~/.local/share/phoihop`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "phoihop"


class MailTransport(BaseModel):
    """The one SMTP account all e-mail goes through."""

    host: str = "127.0.0.1"
    port: int = 8025
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    ssl: bool = False
    sender: str = "phoihop@localhost"
    sender_name: str = "phoihop"
    timeout_seconds: float = 20.0

    def masked(self) -> str:
        user = f"{self.username}:***@" if self.username else ""
        return f"smtp://{user}{self.host}:{self.port}"


class CalendarOverrides(BaseModel):
    """Government-decreed swaps the `holidays` package may not know."""

    days_off: list[date] = Field(default_factory=list)
    working_days: list[date] = Field(default_factory=list)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PHOIHOP_", env_nested_delimiter="__",
                                      extra="ignore")

    profile: Literal["local", "production"] = "local"
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None  # default: sqlite:///<data_dir>/phoihop.db
    language: Literal["vi", "en"] = "vi"  # of CLI tables and coordinator-facing text
    portal_url: str = "http://127.0.0.1:8600"
    portal_port: int = 8600
    portal_rate_per_address: int = Field(default=120, ge=1)  # requests a minute per client address
    link_days_after_deadline: int = 60
    auto_extension_days: int = 14  # granted once per obligation without asking
    horizon_days: int = 45  # how far ahead sync schedules flow runs
    redis_url: str = "redis://127.0.0.1:6379/0"  # Prefect's events, API in several processes
    sync_concurrency: int = Field(default=1, ge=1)  # bulk creates at a time (SQLite: 1)
    mail: MailTransport = Field(default_factory=MailTransport)
    channels: dict[str, SecretStr] = Field(default_factory=dict)  # name -> Apprise URL
    ladders: dict[str, dict[str, Any]] = Field(default_factory=dict)  # name -> inline ladder
    calendar: CalendarOverrides = Field(default_factory=CalendarOverrides)
    secret_key: SecretStr | None = None  # default: generated once into <data_dir>/secret.key
    send_retries: int = 5
    send_deadline_seconds: float = 30.0
    lease_seconds: float = 120.0
    # the Prefect side of `phoihop up` and scripts/scale-out.sh (docs/deploy.md)
    prefect_port: int = Field(default=4200, ge=1, le=65535)  # its API and UI
    prefect_database_url: str | None = None  # default: SQLite under <data_dir>/prefect
    heartbeat_seconds: int = Field(default=60, ge=30)  # a flow run's; Prefect's least is 30
    crashed_after_seconds: int | None = None  # silent this long: Crashed; ≥ 4 heartbeats

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = config_file()
        if path is None:
            return (init_settings, env_settings)
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, path))

    @field_validator("database_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v and v.startswith("postgresql://"):
            return "postgresql+psycopg://" + v.removeprefix("postgresql://")
        return v

    @model_validator(mode="after")
    def _no_placeholder_secrets(self) -> Settings:
        if self.profile == "production":
            pw = self.mail.password.get_secret_value() if self.mail.password else None
            if self.mail.username and (pw is None or pw.lower() in PLACEHOLDERS):
                raise ValueError("mail.password is a placeholder; set a real secret for production")
        return self

    @model_validator(mode="after")
    def _heartbeat_margin(self) -> Settings:
        least = SAFE_HEARTBEATS * self.heartbeat_seconds
        if self.crashed_after_seconds is not None and self.crashed_after_seconds < least:
            raise ValueError(
                f"crashed_after_seconds {self.crashed_after_seconds} is under {least} "
                f"({SAFE_HEARTBEATS} × heartbeat_seconds): a healthy run would be marked Crashed")
        return self

    @property
    def crashed_after(self) -> int:
        """Seconds without a heartbeat before a run is marked Crashed."""
        return self.crashed_after_seconds or SAFE_HEARTBEATS * self.heartbeat_seconds

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'phoihop.db'}"

    def masked_db_url(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.db_url).render_as_string(hide_password=True)


def config_file() -> Path | None:
    explicit = os.environ.get("PHOIHOP_CONFIG")
    if explicit:
        return Path(explicit)
    candidate = default_data_dir() / "phoihop.toml"
    return candidate if candidate.exists() else None


def load_settings(**overrides: Any) -> Settings:
    """Settings from overrides, the environment and the TOML file, in that order."""
    path = config_file()
    if path is not None and not path.exists():
        raise ConfigError(f"{path}: configuration file not found (PHOIHOP_CONFIG)")
    try:
        return Settings(**overrides)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except ValidationError as exc:
        where = path or "environment (PHOIHOP_*)"
        details = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or 'settings'}: "
            f"{str(e['msg']).removeprefix('Value error, ')}" for e in exc.errors())
        raise ConfigError(f"{where}: {details}") from exc


class ConfigError(Exception):
    pass
