"""One validated settings class: environment variables `PHOIHOP_*` and an optional TOML file.

Order of precedence: environment, then the TOML file named by `PHOIHOP_CONFIG`
(default `<data dir>/phoihop.toml` when it exists, the data dir being `PHOIHOP_DATA_DIR`
or the default one), then the defaults below. Unknown keys in the TOML file and unknown
`PHOIHOP_*` variables are refused with a suggestion; configured ladders and channel URLs
are checked when loaded.
The profile `local` (default) means SQLite in the data directory and a local
mail sink; `production` refuses placeholder secrets.
"""

from __future__ import annotations

import difflib
import logging
import os
import tomllib
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from notifications.transport import MailTransport

# a run is marked Crashed only after this many heartbeat periods of silence: 3 missed
# plus one of margin (heartbeats were seen 180.03 s apart at a 180 s frequency)
SAFE_HEARTBEATS = 4
PLACEHOLDERS = {"", "changeme", "change-me", "secret", "password", "xxx", "todo"}


def default_data_dir() -> Path:
    """Per-user data directory: `$XDG_DATA_HOME/phoihop` or `~/.local/share/phoihop`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "phoihop"


class CalendarOverrides(BaseModel):
    """Government-decreed swaps the `holidays` package may not know."""

    model_config = ConfigDict(extra="forbid")

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
        given = getattr(init_settings, "init_kwargs", {}).get("data_dir")
        path = config_file(Path(given) if given is not None else None)
        if path is None or not path.exists():
            return (init_settings, env_settings)
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, path))

    @field_validator("database_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v and v.startswith("postgresql://"):
            return "postgresql+psycopg://" + v.removeprefix("postgresql://")
        return v

    @field_validator("ladders")
    @classmethod
    def _ladders(cls, v: dict[str, dict[str, Any]], info: ValidationInfo
                 ) -> dict[str, dict[str, Any]]:
        """Each configured ladder by the rules of an inline one: a typo is an error here,
        once, not a traceback in every command that reads an agreement; said in the
        language of the setting `language`."""
        from core.parse import LadderConfigError, ladder_from_config

        for name, spec in v.items():
            try:
                ladder_from_config(name, spec)
            except LadderConfigError as exc:
                raise ValueError(exc.text(str(info.data.get("language", "vi")))) from None
        return v

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: dict[str, SecretStr]) -> dict[str, SecretStr]:
        """Every channel URL one Apprise can parse (checked now, not when a message waits)."""
        if not v:
            return v
        import apprise

        from core.parse import mask_secret

        bad = []
        quiet = logging.getLogger("apprise")
        was_disabled, quiet.disabled = quiet.disabled, True
        try:
            for name, url in v.items():
                if apprise.Apprise.instantiate(url.get_secret_value()) is None:
                    bad.append(f"'{name}' = {mask_secret(url.get_secret_value())!r}")
        finally:
            quiet.disabled = was_disabled
        if bad:
            raise ValueError("not an Apprise URL Apprise can use: " + ", ".join(bad))
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


def data_dir_from_env() -> Path:
    """The data dir before the TOML is read: `PHOIHOP_DATA_DIR`, else the default."""
    given = os.environ.get("PHOIHOP_DATA_DIR")
    return Path(given).expanduser() if given else default_data_dir()


def config_file(data_dir: Path | None = None) -> Path | None:
    """The TOML file: `PHOIHOP_CONFIG`, else `<data dir>/phoihop.toml` when it exists (the
    data dir given, else `PHOIHOP_DATA_DIR`, else the default)."""
    explicit = os.environ.get("PHOIHOP_CONFIG")
    if explicit:
        return Path(explicit)
    candidate = (data_dir or data_dir_from_env()) / "phoihop.toml"
    return candidate if candidate.exists() else None


# `PHOIHOP_*` variables that are not settings: read by other parts (the CLI, the
# portal's worker processes, scripts/scale-out.sh's database name, the test suite and the
# benchmarks). A part that reads a new one adds it here.
OTHER_ENV = frozenset({"PHOIHOP_CONFIG", "PHOIHOP_PORTAL_SHARED_LIMITS", "PHOIHOP_DB"})
OTHER_ENV_PREFIXES = ("PHOIHOP_BENCH_", "PHOIHOP_TEST_", "PHOIHOP_CONCURRENCY_",
                      "PHOIHOP_MODEL_", "PHOIHOP_REQUIRE_")
# settings whose values are free-form tables (names chosen by the user)
FREE_TABLES = frozenset({"channels", "ladders"})


def _nested(name: str) -> type[BaseModel] | None:
    annotation = Settings.model_fields[name].annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) \
        else None


def _say(vi: str, en: str, lang: str) -> str:
    return en if lang == "en" else vi


def _hint(name: str, known: Iterable[str], lang: str) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    if not close:
        return ""
    return _say(f" (có phải `{close[0]}`?)", f" (did you mean `{close[0]}`?)", lang)


def unknown_toml_keys(data: Mapping[str, Any], lang: str = "vi") -> list[str]:
    """Each key of the TOML file that is no setting, with the closest name."""
    unknown = _say("không có thiết lập này", "unknown setting", lang)
    # a top-level typo may be a nested key written outside its table (`hots` for `host`)
    nested = {f"{n}": n for n in Settings.model_fields}
    for table in Settings.model_fields:
        model = _nested(table)
        if model is not None:
            nested.update({sub: f"[{table}] {sub}" for sub in model.model_fields
                           if sub not in nested})
    out = []
    for key, value in data.items():
        if key not in Settings.model_fields:
            close = difflib.get_close_matches(key, list(nested), n=1, cutoff=0.6)
            hint = _hint(nested[close[0]], [nested[close[0]]], lang) if close else ""
            out.append(f"`{key}`: {unknown}{hint}")
            continue
        model = _nested(key)
        if model is not None and isinstance(value, Mapping):
            for sub in value:
                if sub not in model.model_fields:
                    out.append(f"[{key}] `{sub}`: {unknown}"
                               f"{_hint(sub, model.model_fields, lang)}")
    return out


def unknown_env_keys(environ: Mapping[str, str], lang: str = "vi") -> list[str]:
    """Each `PHOIHOP_*` variable that names no setting, with the closest name."""
    unknown = _say("không có thiết lập này", "unknown setting", lang)
    out = []
    for var in sorted(environ):
        if not var.startswith("PHOIHOP_") or var in OTHER_ENV \
                or var.startswith(OTHER_ENV_PREFIXES):
            continue
        name, _, sub = var.removeprefix("PHOIHOP_").lower().partition("__")
        if name not in Settings.model_fields:
            known = [f"PHOIHOP_{n.upper()}" for n in Settings.model_fields] + sorted(OTHER_ENV)
            out.append(f"`{var}`: {unknown}{_hint(var, known, lang)}")
            continue
        model = _nested(name)
        if sub and model is not None and sub.partition("__")[0] not in model.model_fields:
            known = [f"PHOIHOP_{name.upper()}__{n.upper()}" for n in model.model_fields]
            out.append(f"`{var}`: {unknown}{_hint(var, known, lang)}")
        elif sub and model is None and name not in FREE_TABLES:
            out.append(f"`{var}`: " + _say(f"`{name}` không có phần con (`__`)",
                                           f"`{name}` has no parts (`__`)", lang))
    return out


def setting_sources(settings: Settings) -> dict[str, str]:
    """Where each setting in force comes from: `environment`, `toml` or `default`, by
    dotted name (`mail.host`), for `phoihop config`."""
    path = config_file()
    toml: dict[str, Any] = {}
    if path is not None and path.exists():
        toml = tomllib.loads(path.read_text(encoding="utf-8"))
    env = {k.removeprefix("PHOIHOP_").lower() for k in os.environ if k.startswith("PHOIHOP_")}
    out: dict[str, str] = {}
    for name in Settings.model_fields:
        model = _nested(name)
        subs = [f"{name}.{n}" for n in model.model_fields] if model is not None else [name]
        for dotted in subs:
            head, _, sub = dotted.partition(".")
            env_name = f"{head}__{sub}" if sub else head
            in_toml = head in toml and (not sub or (isinstance(toml[head], Mapping)
                                                    and sub in toml[head]))
            from_env = env_name in env or (sub and head in env) or (
                not sub and any(e.startswith(f"{head}__") for e in env))
            if from_env:
                out[dotted] = "environment"
            elif in_toml:
                out[dotted] = "toml"
            else:
                out[dotted] = "default"
    return out


def load_settings(**overrides: Any) -> Settings:
    """Settings from overrides, the environment and the TOML file, in that order; unknown
    keys and unusable values are one `ConfigError` naming every problem."""
    given = overrides.get("data_dir")
    path = config_file(Path(given) if given is not None else None)
    # before the file is read, its `language` is unknown: the override's or the variable's
    lang = str(overrides.get("language") or os.environ.get("PHOIHOP_LANGUAGE") or "vi")
    if path is not None and not path.exists():
        raise ConfigError(_say(f"{path}: không có tệp cấu hình này (PHOIHOP_CONFIG)",
                               f"{path}: configuration file not found (PHOIHOP_CONFIG)", lang))
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(_say(f"{path}: không đọc được ({exc})",
                                   f"{path}: cannot read ({exc})", lang)) from exc
    lang = str(overrides.get("language") or os.environ.get("PHOIHOP_LANGUAGE")
               or data.get("language") or "vi")
    problems = []
    if path is not None and (found := unknown_toml_keys(data, lang)):
        problems.append(f"{path}: " + "; ".join(found))
    if found := unknown_env_keys(os.environ, lang):
        problems.append(_say("biến môi trường: ", "environment: ", lang) + "; ".join(found))
    if problems:
        raise ConfigError("; ".join(problems))
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
