"""Gateway configuration: a TOML file, overridden by environment variables, overridden by flags.

Precedence, lowest first: defaults < the TOML file < ``CREDITLINK_<FIELD>`` environment
variables < explicit overrides (command-line flags)::

    config = load_config(Path("creditlink.toml"), overrides={"listen": args.listen})

The file (``creditlink init`` writes one with :func:`write_config`)::

    node_id = "zj-330000"
    data_dir = "/var/lib/creditlink"          # relative paths: relative to this file
    credentials_dir = "/var/lib/creditlink/node"
    listen = "0.0.0.0:7443"
    metrics_listen = "127.0.0.1:9464"
    store_url = "postgresql://creditlink@db/creditlink"
    insecure_dev = false
    max_message_bytes = 4194304
    rate_limit_per_node = 5000.0              # messages per second; 0 = no limit
    rate_limit_burst = 10000
    log_level = "INFO"
    intake_workers = 4                        # processes checking submissions; 0 = in the
                                              # event loop; absent = one per CPU (up to 8)
    holiday_table = "holidays.toml"           # working days for years chinesecalendar lacks

    [upstream]                                # where this node forwards to (optional)
    endpoint = "hub.example.cn:7443"
    node_id = "cn-hub"

Environment variables are the field names in upper case (``CREDITLINK_LISTEN``,
``CREDITLINK_UPSTREAM_ENDPOINT``, ...); an empty variable counts as unset, and variables this
module does not know are ignored (``CREDITLINK_TEST_PG`` and the like belong to others).
Overrides use the flat field names (``upstream_endpoint``); a ``None`` value counts as unset.
Every error is a :class:`ConfigError` naming the key and where the value came from.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import tomli_w

from creditlink.gateway.store import sqlite_url
from creditlink.sdk.credentials import write_file_atomic
from creditlink.sdk.errors import CreditlinkError
from creditlink.sdk.ids import validate_node_id

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_LISTEN",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_METRICS_LISTEN",
    "ENV_PREFIX",
    "ConfigError",
    "GatewayConfig",
    "Upstream",
    "is_loopback",
    "load_config",
    "write_config",
]

ENV_PREFIX: Final = "CREDITLINK_"
DEFAULT_DATA_DIR: Final = Path(".creditlink")
DEFAULT_LISTEN: Final = "127.0.0.1:7443"
DEFAULT_METRICS_LISTEN: Final = "127.0.0.1:9464"
#: gRPC's own default receive limit.
DEFAULT_MAX_MESSAGE_BYTES: Final = 4 * 1024 * 1024
# gRPC takes the limit as a signed 32-bit int; below 1 KiB not even a small statement fits.
_MIN_MESSAGE_BYTES: Final = 1024
_MAX_MESSAGE_BYTES: Final = 2**31 - 1
_MAX_WORKERS: Final = 64
_LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_STORE_SCHEMES: Final = ("sqlite", "postgresql", "postgres")


class ConfigError(CreditlinkError):
    """A configuration value is missing, of the wrong type or invalid."""

    default_reason = "INVALID_CONFIG"


# --------------------------------------------------------------------------------------------
# Validators (ValueError with a message that reads after "<key> from <source>: ")
# --------------------------------------------------------------------------------------------


def _split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{address!r} is not host:port (port 0-65535)")
    if host.startswith("[") != host.endswith("]"):
        raise ValueError(f"{address!r} has an unbalanced IPv6 bracket")
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError(f"{address!r}: {host} is not an IPv6 address") from None
    elif ":" in host:
        raise ValueError(f"{address!r}: write an IPv6 host in brackets, e.g. [::1]:7443")
    return host, int(port)


def is_loopback(address: str) -> bool:
    """Whether ``host:port`` names a loopback interface (``localhost``, 127.0.0.0/8, ``::1``)."""
    host, _ = _split_address(address)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_address(value: str) -> str:
    _split_address(value)
    return value


def _check_node_id(value: str) -> str:
    if validate_node_id(value) != value:
        raise ValueError(f"{value!r} has surrounding whitespace")
    return value


def _check_store_url(value: str) -> str:
    scheme = value.partition(":")[0]
    if scheme not in _STORE_SCHEMES:
        raise ValueError(
            f"{_redact(value)!r} is not sqlite:///<path> or postgresql://<user>@<host>/<db>"
        )
    if scheme == "sqlite" and (not value.startswith("sqlite:///") or value == "sqlite:///"):
        raise ValueError(f"{value!r}: a SQLite store URL is sqlite:///<path to the file>")
    return value


def _check_message_bytes(value: int) -> int:
    if not _MIN_MESSAGE_BYTES <= value <= _MAX_MESSAGE_BYTES:
        raise ValueError(f"{value} is not between {_MIN_MESSAGE_BYTES} and {_MAX_MESSAGE_BYTES}")
    return value


def _check_rate(value: float) -> float:
    if not value >= 0 or value == float("inf"):  # also refuses NaN
        raise ValueError(f"{value} is not a finite number of messages per second >= 0")
    return value


def _check_burst(value: int) -> int:
    if value < 1:
        raise ValueError(f"{value} is not at least 1")
    return value


def _check_workers(value: int | None) -> int | None:
    if value is not None and not 0 <= value <= _MAX_WORKERS:
        raise ValueError(f"must be between 0 and {_MAX_WORKERS}")
    return value


def _check_log_level(value: str) -> str:
    level = value.upper()
    if level not in _LOG_LEVELS:
        raise ValueError(f"{value!r} is not one of {', '.join(_LOG_LEVELS)}")
    return level


def _text(exc: ValueError) -> str:
    # The message alone: identifier errors would otherwise append their own [REASON].
    return str(exc.args[0]) if exc.args else str(exc)


def _default_store_url(data_dir: Path) -> str:
    # open_store's form: "sqlite:///" then the absolute path without its leading slash (as in
    # file:/// URLs), percent-encoded. Formatting an absolute path after "sqlite:///" would give
    # four slashes, which open_store reads as the path "//abs/path".
    return sqlite_url(data_dir / "store.sqlite3")


def _redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}"))


# --------------------------------------------------------------------------------------------
# The configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Upstream:
    """The gateway a node forwards to: where it listens and its node id in the trust bundle."""

    endpoint: str
    node_id: str

    def __post_init__(self) -> None:
        for name, check in (("endpoint", _check_address), ("node_id", _check_node_id)):
            try:
                check(getattr(self, name))
            except ValueError as exc:
                raise ConfigError(f"upstream {name}: {_text(exc)}") from exc


@dataclass(frozen=True, kw_only=True)
class GatewayConfig:
    """Everything a gateway needs to start; validated on construction (:class:`ConfigError`).

    ``insecure_dev`` (plaintext gRPC) is accepted only with a loopback ``listen`` address.
    ``rate_limit_per_node`` is messages per second per authenticated node (0: no limit), with
    bursts of up to ``rate_limit_burst`` messages; a streamed batch counts as one message.
    ``store_url`` is ``sqlite:///abs/path`` (as :func:`~creditlink.gateway.store.open_store`
    reads it: three slashes, then the absolute path without its leading slash) or a
    PostgreSQL URL; it may hold a password, so it is left out of ``repr`` (see
    :attr:`redacted_store_url`).
    """

    node_id: str
    data_dir: Path
    credentials_dir: Path
    #: Empty: ``sqlite:///<data_dir>/store.sqlite3``.
    store_url: str = field(default="", repr=False)
    listen: str = DEFAULT_LISTEN
    metrics_listen: str = DEFAULT_METRICS_LISTEN
    upstream: Upstream | None = None
    insecure_dev: bool = False
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    rate_limit_per_node: float = 5000.0
    rate_limit_burst: int = 10000
    log_level: str = "INFO"
    #: Worker processes running the intake (gateway/workers.py); 0: on the event loop;
    #: ``None``: one per CPU, up to 8.
    intake_workers: int | None = None
    #: The operator's holiday table (TOML or JSON, ``gateway/domain/calendar``) for years the
    #: calendar package does not know; without it their deadlines are provisional.
    holiday_table: Path | None = None

    def __post_init__(self) -> None:
        if not self.store_url:
            object.__setattr__(self, "store_url", _default_store_url(self.data_dir))
        checks: dict[str, Callable[[Any], Any]] = {
            "node_id": _check_node_id,
            "store_url": _check_store_url,
            "listen": _check_address,
            "metrics_listen": _check_address,
            "max_message_bytes": _check_message_bytes,
            "rate_limit_per_node": _check_rate,
            "rate_limit_burst": _check_burst,
            "log_level": _check_log_level,
            "intake_workers": _check_workers,
        }
        for name, check in checks.items():
            try:
                # Normalizing checks (log level case) write back through object.__setattr__,
                # the documented way to set fields of a frozen dataclass in __post_init__.
                object.__setattr__(self, name, check(getattr(self, name)))
            except ValueError as exc:
                raise ConfigError(f"{name}: {_text(exc)}") from exc
        if self.insecure_dev and not is_loopback(self.listen):
            raise ConfigError(
                f"insecure_dev (plaintext) is only allowed on a loopback listen address, "
                f"not {self.listen!r}"
            )

    @property
    def redacted_store_url(self) -> str:
        """``store_url`` with its password, if any, replaced by ``***``."""
        return _redact(self.store_url)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    kind: type  # str, Path, bool, int or float
    check: Callable[[Any], Any] | None = None


# Flat names; the TOML table [upstream] maps to the upstream_* names.
_FIELDS: Final[Mapping[str, _Field]] = {
    "node_id": _Field(str, _check_node_id),
    "data_dir": _Field(Path),
    "credentials_dir": _Field(Path),
    "listen": _Field(str, _check_address),
    "metrics_listen": _Field(str, _check_address),
    "store_url": _Field(str, _check_store_url),
    "upstream_endpoint": _Field(str, _check_address),
    "upstream_node_id": _Field(str, _check_node_id),
    "insecure_dev": _Field(bool),
    "max_message_bytes": _Field(int, _check_message_bytes),
    "rate_limit_per_node": _Field(float, _check_rate),
    "rate_limit_burst": _Field(int, _check_burst),
    "log_level": _Field(str, _check_log_level),
    "intake_workers": _Field(int, _check_workers),
    "holiday_table": _Field(Path),
}
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


def _from_text(kind: type, text: str) -> object:
    """Parse an environment variable or a string override."""
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"{text!r} is not true/false (1/0, yes/no, on/off)")
    if kind is int:
        try:
            return int(text.strip())
        except ValueError:
            raise ValueError(f"{text!r} is not an integer") from None
    if kind is float:
        try:
            return float(text.strip())
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
    return text


def _typed(kind: type, value: object, base: Path) -> object:
    """Check the type of a TOML value or an override (strings are parsed for overrides)."""
    if kind is Path:
        if isinstance(value, str | os.PathLike):
            path = Path(value).expanduser()
            return path if path.is_absolute() else base / path
        raise ValueError(f"expected a path string, got {type(value).__name__}")
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"expected true or false, got {value!r}")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"expected an integer, got {value!r}")
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, str):
        return value
    raise ValueError(f"expected a string, got {value!r}")


def _read_file(path: Path) -> dict[str, tuple[object, str]]:
    """Flat ``{field: (raw value, source)}`` from a TOML file, paths resolved against it."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    flat: dict[str, object] = {}
    for key, value in data.items():
        if key == "upstream":
            if not isinstance(value, dict):
                raise ConfigError(f"config file {path}, key 'upstream': expected a table")
            for sub, sub_value in value.items():
                if sub not in ("endpoint", "node_id"):
                    raise ConfigError(
                        f"config file {path}, key 'upstream.{sub}': unknown key "
                        "(upstream has endpoint and node_id)"
                    )
                flat[f"upstream_{sub}"] = sub_value
        elif key in _FIELDS and not key.startswith("upstream_"):
            flat[key] = value
        else:
            # A misspelt key would otherwise silently fall back to its default.
            raise ConfigError(f"config file {path}, key {key!r}: unknown key")
    base = path.parent.absolute()
    result: dict[str, tuple[object, str]] = {}
    for name, raw in flat.items():
        display = name.replace("upstream_", "upstream.", 1)
        source = f"config file {path}, key {display!r}"
        try:
            result[name] = (_typed(_FIELDS[name].kind, raw, base), source)
        except ValueError as exc:
            raise ConfigError(f"{source}: {_text(exc)}") from exc
    return result


def _read_env(env: Mapping[str, str]) -> dict[str, tuple[object, str]]:
    result: dict[str, tuple[object, str]] = {}
    cwd = Path.cwd()
    for name, spec in _FIELDS.items():
        var = ENV_PREFIX + name.upper()
        text = env.get(var)
        if not text:
            continue
        source = f"environment variable {var}"
        try:
            value = _from_text(spec.kind, text)
            result[name] = (_typed(spec.kind, value, cwd), source)
        except ValueError as exc:
            raise ConfigError(f"{source}: {_text(exc)}") from exc
    return result


def _read_overrides(overrides: Mapping[str, object]) -> dict[str, tuple[object, str]]:
    result: dict[str, tuple[object, str]] = {}
    cwd = Path.cwd()
    for name, value in overrides.items():
        if name not in _FIELDS:
            raise ConfigError(f"override {name!r}: unknown setting ({', '.join(_FIELDS)})")
        if value is None:
            continue
        source = f"override {name!r}"
        kind = _FIELDS[name].kind
        try:
            if isinstance(value, str) and kind is not str and kind is not Path:
                value = _from_text(kind, value)
            result[name] = (_typed(kind, value, cwd), source)
        except ValueError as exc:
            raise ConfigError(f"{source}: {_text(exc)}") from exc
    return result


def load_config(
    path: Path | None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> GatewayConfig:
    """Build the configuration from ``path`` (optional), ``env`` and ``overrides``.

    ``env`` defaults to ``os.environ``. Each value is checked where it comes from, so a
    :class:`ConfigError` names the key and its source (file and key, environment variable,
    or override). Defaults: ``data_dir`` ``./.creditlink``; ``credentials_dir``
    ``<data_dir>/node``; ``store_url`` ``sqlite:///<data_dir>/store.sqlite3``; ``node_id``
    has none and must be given somewhere.
    """
    layers: dict[str, tuple[object, str]] = {}
    if path is not None:
        layers.update(_read_file(Path(path)))
    layers.update(_read_env(os.environ if env is None else env))
    layers.update(_read_overrides(overrides or {}))

    values: dict[str, object] = {}
    for name, (value, source) in layers.items():
        check = _FIELDS[name].check
        try:
            values[name] = check(value) if check else value
        except ValueError as exc:
            raise ConfigError(f"{source}: {_text(exc)}") from exc

    def source_of(name: str) -> str:
        return layers[name][1] if name in layers else "the default"

    if "node_id" not in values:
        raise ConfigError(
            "node_id is not set: give it in the config file (node_id = ...), "
            f"as {ENV_PREFIX}NODE_ID, or with --node-id"
        )
    has_endpoint, has_node = "upstream_endpoint" in values, "upstream_node_id" in values
    if has_endpoint != has_node:
        given, missing = (
            ("upstream_endpoint", "upstream_node_id")
            if has_endpoint
            else ("upstream_node_id", "upstream_endpoint")
        )
        raise ConfigError(
            f"{given} is set ({source_of(given)}) but {missing} is not: an upstream needs "
            "both its endpoint and its node id"
        )
    data_dir = Path(str(values.get("data_dir", DEFAULT_DATA_DIR.absolute())))
    listen = str(values.get("listen", DEFAULT_LISTEN))
    if values.get("insecure_dev") and not is_loopback(listen):
        raise ConfigError(
            f"insecure_dev ({source_of('insecure_dev')}) is only allowed on a loopback listen "
            f"address; listen is {listen!r} ({source_of('listen')})"
        )
    upstream = (
        Upstream(endpoint=str(values["upstream_endpoint"]), node_id=str(values["upstream_node_id"]))
        if has_endpoint
        else None
    )
    return GatewayConfig(
        node_id=str(values["node_id"]),
        data_dir=data_dir,
        credentials_dir=Path(str(values.get("credentials_dir", data_dir / "node"))),
        store_url=str(values.get("store_url", "")),
        listen=listen,
        metrics_listen=str(values.get("metrics_listen", DEFAULT_METRICS_LISTEN)),
        upstream=upstream,
        insecure_dev=bool(values.get("insecure_dev", False)),
        max_message_bytes=_as_int(values.get("max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES)),
        rate_limit_per_node=_as_float(values.get("rate_limit_per_node", 5000.0)),
        rate_limit_burst=_as_int(values.get("rate_limit_burst", 10000)),
        log_level=str(values.get("log_level", "INFO")),
        intake_workers=(_as_int(values["intake_workers"]) if "intake_workers" in values else None),
        holiday_table=(Path(str(values["holiday_table"])) if "holiday_table" in values else None),
    )


def _as_int(value: object) -> int:
    assert isinstance(value, int)  # checked by _typed
    return value


def _as_float(value: object) -> float:
    assert isinstance(value, int | float)  # checked by _typed
    return float(value)


def write_config(path: Path, config: GatewayConfig) -> None:
    """Write ``config`` as TOML that :func:`load_config` reads back to an equal config.

    Paths are written absolute. The file is mode 0600 because ``store_url`` may hold a
    database password; it is written atomically.
    """
    data: dict[str, Any] = {
        "node_id": config.node_id,
        "data_dir": str(config.data_dir.absolute()),
        "credentials_dir": str(config.credentials_dir.absolute()),
        "listen": config.listen,
        "metrics_listen": config.metrics_listen,
        "store_url": config.store_url,
        "insecure_dev": config.insecure_dev,
        "max_message_bytes": config.max_message_bytes,
        "rate_limit_per_node": float(config.rate_limit_per_node),
        "rate_limit_burst": config.rate_limit_burst,
        "log_level": config.log_level,
    }
    if config.intake_workers is not None:
        data["intake_workers"] = config.intake_workers
    if config.holiday_table is not None:
        data["holiday_table"] = str(config.holiday_table.absolute())
    if config.upstream is not None:
        data["upstream"] = {
            "endpoint": config.upstream.endpoint,
            "node_id": config.upstream.node_id,
        }
    write_file_atomic(path, tomli_w.dumps(data).encode("utf-8"), mode=0o600)
