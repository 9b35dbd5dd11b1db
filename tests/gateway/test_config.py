"""Tests for the gateway configuration: defaults < TOML file < environment < overrides."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from creditlink.gateway.config import (
    DEFAULT_MAX_MESSAGE_BYTES,
    ConfigError,
    GatewayConfig,
    Upstream,
    is_loopback,
    load_config,
    write_config,
)
from creditlink.gateway.store import open_store

NODE = {"CREDITLINK_NODE_ID": "zj-330000"}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Relative paths from the environment and overrides resolve against the working directory.
    monkeypatch.chdir(tmp_path)


def _toml(tmp_path: Path, text: str, name: str = "creditlink.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path | None, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, **kwargs)  # type: ignore[arg-type]
    assert info.value.reason == "INVALID_CONFIG"
    return str(info.value)


def test_defaults(tmp_path: Path) -> None:
    config = load_config(None, env=NODE)
    assert config.node_id == "zj-330000"
    assert config.data_dir == tmp_path / ".creditlink"
    assert config.credentials_dir == tmp_path / ".creditlink" / "node"
    assert config.store_url == f"sqlite://{tmp_path / '.creditlink' / 'store.sqlite3'}"
    assert config.listen == "127.0.0.1:7443"
    assert config.metrics_listen == "127.0.0.1:9464"
    assert config.upstream is None
    assert config.insecure_dev is False
    assert config.max_message_bytes == DEFAULT_MAX_MESSAGE_BYTES
    assert config.rate_limit_per_node == 5000.0
    assert config.rate_limit_burst == 10000
    assert config.log_level == "INFO"


def test_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITLINK_NODE_ID", "gd-440000")
    assert load_config(None).node_id == "gd-440000"


FILE = """
node_id = "zj-330000"
listen = "127.0.0.1:1001"
metrics_listen = "127.0.0.1:2001"
rate_limit_per_node = 10
log_level = "warning"
data_dir = "state"

[upstream]
endpoint = "hub.example.cn:7443"
node_id = "cn-hub"
"""


def test_file_values(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    config = load_config(_toml(tmp_path / "etc", FILE), env={})
    assert config.listen == "127.0.0.1:1001"
    assert config.rate_limit_per_node == 10.0
    assert config.log_level == "WARNING"
    # Relative paths in the file are relative to the file, and the defaults follow data_dir.
    assert config.data_dir == tmp_path / "etc" / "state"
    assert config.credentials_dir == tmp_path / "etc" / "state" / "node"
    assert config.store_url == f"sqlite://{tmp_path / 'etc' / 'state' / 'store.sqlite3'}"
    assert config.upstream == Upstream(endpoint="hub.example.cn:7443", node_id="cn-hub")


def test_precedence_file_env_overrides(tmp_path: Path) -> None:
    path = _toml(tmp_path, FILE)
    env = {"CREDITLINK_LISTEN": "127.0.0.1:1002", "CREDITLINK_RATE_LIMIT_PER_NODE": "20"}
    overrides = {"listen": "127.0.0.1:1003", "rate_limit_per_node": 30}
    config = load_config(path, env=env, overrides=overrides)
    assert (config.listen, config.rate_limit_per_node) == ("127.0.0.1:1003", 30.0)
    config = load_config(path, env=env)
    assert (config.listen, config.rate_limit_per_node) == ("127.0.0.1:1002", 20.0)
    config = load_config(path, env={})
    assert (config.listen, config.rate_limit_per_node) == ("127.0.0.1:1001", 10.0)
    # Values not overridden keep coming from the file.
    assert load_config(path, env=env, overrides=overrides).metrics_listen == "127.0.0.1:2001"


def test_every_field_from_the_environment(tmp_path: Path) -> None:
    env = {
        "CREDITLINK_NODE_ID": "gd-440000",
        "CREDITLINK_DATA_DIR": "data",
        "CREDITLINK_CREDENTIALS_DIR": "/etc/creditlink/creds",
        "CREDITLINK_LISTEN": "[::1]:7443",
        "CREDITLINK_METRICS_LISTEN": "127.0.0.1:0",
        "CREDITLINK_STORE_URL": "postgresql://creditlink@127.0.0.1:5432/test",
        "CREDITLINK_UPSTREAM_ENDPOINT": "127.0.0.1:7450",
        "CREDITLINK_UPSTREAM_NODE_ID": "cn-hub",
        "CREDITLINK_INSECURE_DEV": "yes",
        "CREDITLINK_MAX_MESSAGE_BYTES": "1048576",
        "CREDITLINK_RATE_LIMIT_PER_NODE": "0",
        "CREDITLINK_RATE_LIMIT_BURST": "7",
        "CREDITLINK_LOG_LEVEL": "debug",
        "CREDITLINK_TEST_PG": "not ours",  # other CREDITLINK_* variables are ignored
    }
    config = load_config(None, env=env)
    assert config == GatewayConfig(
        node_id="gd-440000",
        data_dir=tmp_path / "data",
        credentials_dir=Path("/etc/creditlink/creds"),
        listen="[::1]:7443",
        metrics_listen="127.0.0.1:0",
        store_url="postgresql://creditlink@127.0.0.1:5432/test",
        upstream=Upstream(endpoint="127.0.0.1:7450", node_id="cn-hub"),
        insecure_dev=True,
        max_message_bytes=1048576,
        rate_limit_per_node=0.0,
        rate_limit_burst=7,
        log_level="DEBUG",
    )


def test_empty_environment_variable_is_unset() -> None:
    assert load_config(None, env={**NODE, "CREDITLINK_LISTEN": ""}).listen == "127.0.0.1:7443"


def test_none_override_is_unset(tmp_path: Path) -> None:
    config = load_config(_toml(tmp_path, FILE), env={}, overrides={"listen": None})
    assert config.listen == "127.0.0.1:1001"


def test_string_overrides_are_parsed(tmp_path: Path) -> None:
    config = load_config(
        None,
        env=NODE,
        overrides={"max_message_bytes": "2048", "insecure_dev": "true", "data_dir": "x"},
    )
    assert config.max_message_bytes == 2048
    assert config.insecure_dev is True
    assert config.data_dir == tmp_path / "x"


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", True), ("TRUE", True), ("on", True), ("0", False), ("No", False), ("off", False)],
)
def test_boolean_spellings(text: str, value: bool) -> None:
    assert load_config(None, env={**NODE, "CREDITLINK_INSECURE_DEV": text}).insecure_dev is value


# --------------------------------------------------------------------------------------------
# Errors name the key and the source
# --------------------------------------------------------------------------------------------


def test_node_id_is_required() -> None:
    message = _error(None, env={})
    assert "node_id is not set" in message
    assert "CREDITLINK_NODE_ID" in message


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('node_id = "zj-330000"\nlisten = 7443\n', ["key 'listen'", "expected a string"]),
        ('node_id = "zj-330000"\nlisten = "nowhere"\n', ["key 'listen'", "not host:port"]),
        ('node_id = "ZJ-330000"\n', ["key 'node_id'", "lower-case"]),
        ('node_id = "zj"\n', ["key 'node_id'", "3 to 63"]),
        ('node_id = "zj-330000"\ninsecure_dev = "yes"\n', ["key 'insecure_dev'", "true or false"]),
        ('node_id = "zj-330000"\nmax_message_bytes = 1.5\n', ["max_message_bytes", "integer"]),
        ('node_id = "zj-330000"\nmax_message_bytes = 10\n', ["max_message_bytes", "between"]),
        ('node_id = "zj-330000"\nrate_limit_per_node = -1\n', ["rate_limit_per_node", ">= 0"]),
        ('node_id = "zj-330000"\nrate_limit_burst = 0\n', ["rate_limit_burst", "at least 1"]),
        ('node_id = "zj-330000"\nlog_level = "chatty"\n', ["log_level", "INFO"]),
        ('node_id = "zj-330000"\nstore_url = "mysql://x"\n', ["store_url", "sqlite:///"]),
        ('node_id = "zj-330000"\nstore_url = "sqlite://x.db"\n', ["store_url", "sqlite:///"]),
        ('node_id = "zj-330000"\ndata_dir = 5\n', ["data_dir", "path"]),
        ('node_id = "zj-330000"\nlistne = "127.0.0.1:1"\n', ["'listne'", "unknown key"]),
        ('node_id = "zj-330000"\nupstream_endpoint = "h:1"\n', ["'upstream_endpoint'", "unknown"]),
        ('node_id = "zj-330000"\nupstream = "h:1"\n', ["'upstream'", "table"]),
        ('node_id = "zj-330000"\n[upstream]\nhost = "h:1"\n', ["'upstream.host'", "unknown"]),
        ('node_id = "zj-330000"\n[upstream]\nendpoint = "h:1"\n', ["upstream_node_id"]),
        ('node_id = "zj-330000"\n[upstream]\nendpoint = "h"\nnode_id = "x-1"\n', ["upstream"]),
        ("node_id = \n", ["not valid TOML"]),
    ],
)
def test_file_errors(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = _toml(tmp_path, text)
    message = _error(path, env={})
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message


def test_missing_file(tmp_path: Path) -> None:
    assert "does not exist" in _error(tmp_path / "nope.toml", env=NODE)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("CREDITLINK_MAX_MESSAGE_BYTES", "big", "not an integer"),
        ("CREDITLINK_RATE_LIMIT_PER_NODE", "fast", "not a number"),
        ("CREDITLINK_RATE_LIMIT_PER_NODE", "nan", ">= 0"),
        ("CREDITLINK_RATE_LIMIT_PER_NODE", "inf", "finite"),
        ("CREDITLINK_INSECURE_DEV", "maybe", "true/false"),
        ("CREDITLINK_LISTEN", "[::1:7443", "unbalanced"),
        ("CREDITLINK_LISTEN", "[::g]:7443", "not an IPv6 address"),
        ("CREDITLINK_LISTEN", "127.0.0.1:99999", "not host:port"),
        ("CREDITLINK_LISTEN", "::1:7443", "brackets"),
        ("CREDITLINK_UPSTREAM_NODE_ID", "Hub", "lower-case"),
    ],
)
def test_environment_errors(name: str, value: str, fragment: str) -> None:
    message = _error(None, env={**NODE, name: value})
    assert f"environment variable {name}" in message
    assert fragment in message, message


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        ({"log_level": "loud"}, ["override 'log_level'", "INFO"]),
        ({"rate_limit_burst": True}, ["override 'rate_limit_burst'", "integer"]),
        ({"listen": 7443}, ["override 'listen'", "string"]),
        ({"lisen": "127.0.0.1:1"}, ["override 'lisen'", "unknown setting"]),
    ],
)
def test_override_errors(overrides: dict[str, object], fragments: list[str]) -> None:
    message = _error(None, env=NODE, overrides=overrides)
    for fragment in fragments:
        assert fragment in message, message


def test_half_an_upstream_names_where_the_other_half_came_from() -> None:
    message = _error(None, env={**NODE, "CREDITLINK_UPSTREAM_NODE_ID": "cn-hub"})
    assert "upstream_node_id is set (environment variable CREDITLINK_UPSTREAM_NODE_ID)" in message
    assert "upstream_endpoint is not" in message


# --------------------------------------------------------------------------------------------
# insecure_dev only on loopback
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "listen", ["127.0.0.1:7443", "127.0.0.2:0", "localhost:7443", "[::1]:7443"]
)
def test_insecure_dev_on_loopback(listen: str) -> None:
    config = load_config(None, env=NODE, overrides={"insecure_dev": True, "listen": listen})
    assert config.insecure_dev


@pytest.mark.parametrize(
    "listen", ["0.0.0.0:7443", "[::]:7443", "10.1.2.3:7443", "gateway.example.cn:7443"]
)
def test_insecure_dev_elsewhere_is_refused(tmp_path: Path, listen: str) -> None:
    path = _toml(tmp_path, f'node_id = "zj-330000"\nlisten = "{listen}"\n')
    message = _error(path, env={"CREDITLINK_INSECURE_DEV": "1"})
    assert "loopback" in message
    assert "environment variable CREDITLINK_INSECURE_DEV" in message
    assert f"config file {path}, key 'listen'" in message
    # Without insecure_dev the same address is fine.
    assert load_config(path, env={}).listen == listen


def test_insecure_dev_checked_on_direct_construction(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="loopback"):
        GatewayConfig(
            node_id="zj-330000",
            data_dir=tmp_path,
            credentials_dir=tmp_path / "node",
            listen="0.0.0.0:7443",
            insecure_dev=True,
        )


def test_is_loopback() -> None:
    assert is_loopback("127.9.9.9:1")
    assert is_loopback("[::1]:1")
    assert is_loopback("localhost:1")
    assert not is_loopback("0.0.0.0:1")
    assert not is_loopback("localhost.example.cn:1")


# --------------------------------------------------------------------------------------------
# Direct construction and writing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["state", "with space", "odd#dir?100%"])
async def test_default_store_url_opens_the_file_in_data_dir(tmp_path: Path, name: str) -> None:
    # The default must be a URL open_store accepts (sqlite:///abs/path, three slashes), and
    # open the file inside data_dir, whatever characters the directory name holds.
    data_dir = tmp_path / name
    data_dir.mkdir()
    config = load_config(None, env=NODE, overrides={"data_dir": str(data_dir)})
    assert config.store_url.startswith("sqlite:///")
    assert not config.store_url.startswith("sqlite:////")
    async with open_store(config.store_url) as store:
        assert (await store.head()).size == 0
    assert (data_dir / "store.sqlite3").is_file()
    # A relative data_dir given directly is made absolute (sqlite:///x would mean /x).
    relative = GatewayConfig(node_id="cn-hub", data_dir=Path(name), credentials_dir=Path("n"))
    assert relative.store_url == config.store_url


def test_direct_construction_validates(tmp_path: Path) -> None:
    config = GatewayConfig(node_id="cn-hub", data_dir=tmp_path, credentials_dir=tmp_path / "n")
    assert config.store_url == f"sqlite://{tmp_path / 'store.sqlite3'}"
    with pytest.raises(ConfigError, match="max_message_bytes"):
        GatewayConfig(
            node_id="cn-hub", data_dir=tmp_path, credentials_dir=tmp_path, max_message_bytes=0
        )
    with pytest.raises(ConfigError, match="upstream endpoint"):
        Upstream(endpoint="nowhere", node_id="cn-hub")


def test_password_is_kept_out_of_repr_and_errors(tmp_path: Path) -> None:
    config = load_config(
        None, env=NODE, overrides={"store_url": "postgresql://u:s3cret@db:5432/creditlink"}
    )
    assert "s3cret" not in repr(config)
    assert config.redacted_store_url == "postgresql://u:***@db:5432/creditlink"
    message = _error(None, env=NODE, overrides={"store_url": "mysql://u:s3cret@db/x"})
    assert "s3cret" not in message


def test_write_config_round_trip(tmp_path: Path) -> None:
    config = load_config(
        _toml(tmp_path, FILE),
        env={"CREDITLINK_STORE_URL": "postgresql://u:pw@127.0.0.1/test"},
        overrides={"insecure_dev": True, "max_message_bytes": 8192},
    )
    path = tmp_path / "out" / "written.toml"
    path.parent.mkdir()
    write_config(path, config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_config(path, env={}) == config
    # Without an upstream there is no [upstream] table.
    plain = load_config(None, env=NODE)
    write_config(path, plain)
    assert "[upstream]" not in path.read_text()
    assert load_config(path, env={}) == plain


def test_intake_workers_default_to_one_per_cpu_and_can_be_set(tmp_path: Path) -> None:
    assert load_config(None, env=NODE).intake_workers is None  # the node picks one per CPU
    assert load_config(None, env={**NODE, "CREDITLINK_INTAKE_WORKERS": "0"}).intake_workers == 0
    assert load_config(_toml(tmp_path, "intake_workers = 3\n" + FILE), env={}).intake_workers == 3
    with pytest.raises(ConfigError, match="INTAKE_WORKERS: must be between 0 and 64"):
        load_config(None, env={**NODE, "CREDITLINK_INTAKE_WORKERS": "-1"})
    with pytest.raises(ConfigError, match="intake_workers"):
        load_config(None, env=NODE, overrides={"intake_workers": 65})
    config = load_config(None, env=NODE, overrides={"intake_workers": 2})
    path = tmp_path / "written.toml"
    write_config(path, config)
    assert load_config(path, env={}).intake_workers == 2


def test_holiday_table_path_is_resolved_and_round_trips(tmp_path: Path) -> None:
    config = load_config(_toml(tmp_path, 'holiday_table = "holidays-2027.toml"\n' + FILE), env={})
    assert config.holiday_table == tmp_path / "holidays-2027.toml"
    assert load_config(None, env=NODE).holiday_table is None
    path = tmp_path / "written.toml"
    write_config(path, config)
    assert load_config(path, env={}).holiday_table == config.holiday_table
