"""The server's configuration: embedded defaults, a TOML file (``--config``), then flags.

Every flag of ``parley serve`` has a key of the same name in the file (``listen = [...]``,
``domain = [...]``, ``data-dir = "..."``); flags given on the command line win.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parley.runtime.transports import ListenSpec

TRANSPORTS = ("udp", "tcp", "tls", "ws")
#: Who may watch a user's presence without asking (see ``ServerConfig.presence_policy``).
PRESENCE_POLICIES = ("ask", "open")


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message says which and why."""


def parse_listen(text: str) -> ListenSpec:
    """``udp:HOST:PORT`` (IPv6 hosts in brackets: ``tcp:[::1]:5060``)."""
    transport, sep, rest = text.partition(":")
    if not sep or transport not in TRANSPORTS:
        raise ConfigError(
            f"listen {text!r}: expected TRANSPORT:HOST:PORT, TRANSPORT in {TRANSPORTS}"
        )
    host, port = _hostport(rest, f"listen {text!r}")
    return ListenSpec(transport, host, port)


def parse_http(text: str) -> tuple[str, int]:
    return _hostport(text, f"http {text!r}")


def _hostport(text: str, what: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        raise ConfigError(f"{what}: expected HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


@dataclass
class ServerConfig:
    """Everything ``parley serve`` needs. Empty ``listen`` and ``http`` mean the defaults,
    unless ``explicit`` says that only what was given is to be opened."""

    domains: list[str] = field(default_factory=lambda: ["localhost"])
    listen: list[ListenSpec] = field(default_factory=list)
    http: tuple[str, int] | None = None
    explicit: bool = False
    data_dir: Path = Path("parley-data")
    routes: list[str] = field(default_factory=list)
    digest_algorithms: list[str] = field(default_factory=lambda: ["SHA-256", "MD5"])
    trace: bool = False
    message_max_bytes: int = 64 * 1024
    message_store_days: float = 7.0
    message_quota: int = 1000
    #: ``ask`` (the default): watchers need the presentity's approval (a friend request);
    #: ``open``: anyone, local or federated, may watch (RFC 5025 rules still apply).
    presence_policy: str = "ask"
    #: Answer SUBSCRIBE 202 Accepted as RFC 3265 notifiers did, not 200 (RFC 6665 §8.3.1).
    notifier_202: bool = False
    #: Processes; the ones beyond the first relay MESSAGEs (see parley.apps.workers).
    workers: int = 1

    @property
    def database(self) -> Path:
        return self.data_dir / "parley.db"

    def listen_specs(self) -> list[ListenSpec]:
        if self.listen or self.explicit:
            return self.listen
        # SIP over WebSocket is served by the HTTP port (``/ws``), see ``http_address``.
        return [
            ListenSpec("udp", "127.0.0.1", 5060),
            ListenSpec("tcp", "127.0.0.1", 5060),
            ListenSpec("tls", "127.0.0.1", 5061),
        ]

    def http_address(self) -> tuple[str, int] | None:
        """The HTTP port (WebSocket SIP at /ws, XCAP, /metrics): 127.0.0.1:8080 by default,
        none when listeners were given explicitly without ``http``."""
        if self.http is not None:
            return self.http
        return None if self.explicit else ("127.0.0.1", 8080)

    def is_local_domain(self, domain: str) -> bool:
        return domain.lower() in {d.lower() for d in self.domains}


def load_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def build_config(file_values: dict[str, Any], flags: dict[str, Any]) -> ServerConfig:
    """Merge file values and flags (flags that are None or empty are not given)."""
    merged = dict(file_values)
    # Identity for False: a flag's 0 (``--workers 0``) is given, and must be judged.
    merged.update({k: v for k, v in flags.items() if v is not None and v is not False and v != []})
    known = {
        "domain", "listen", "http", "data-dir", "route", "digest-algorithms", "trace",
        "message-max-bytes", "message-store-days", "message-quota",
        "presence-policy", "notifier-202", "workers",
    }  # fmt: skip
    unknown = set(merged) - known
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    config = ServerConfig()
    if "domain" in merged:
        config.domains = [d.lower() for d in _strings(merged["domain"], "domain")]
    if "listen" in merged or "http" in merged:
        config.explicit = True
    config.listen = [
        spec if isinstance(spec, ListenSpec) else parse_listen(spec)
        for spec in _list(merged.get("listen", []), "listen")
    ]
    if "http" in merged:
        http = merged["http"]
        config.http = http if isinstance(http, tuple) else parse_http(str(http))
    if "data-dir" in merged:
        config.data_dir = Path(merged["data-dir"])
    config.routes = _strings(merged.get("route", []), "route")
    if "digest-algorithms" in merged:
        value = merged["digest-algorithms"]
        names = value.split(",") if isinstance(value, str) else _strings(value, "digest-algorithms")
        config.digest_algorithms = [n.strip().upper() for n in names if n.strip()]
        for name in config.digest_algorithms:
            if name not in ("MD5", "SHA-256"):
                raise ConfigError(f"digest-algorithms: {name} is not MD5 or SHA-256")
    config.trace = bool(merged.get("trace", False))
    for key, attr, kind in (
        ("message-max-bytes", "message_max_bytes", int),
        ("message-store-days", "message_store_days", float),
        ("message-quota", "message_quota", int),
    ):
        if key in merged:
            try:
                setattr(config, attr, kind(merged[key]))
            except (TypeError, ValueError):
                raise ConfigError(f"{key}: not a number: {merged[key]!r}") from None
    if "presence-policy" in merged:
        policy = str(merged["presence-policy"]).strip().lower()
        if policy not in PRESENCE_POLICIES:
            raise ConfigError(f"presence-policy: {policy!r} is not one of {PRESENCE_POLICIES}")
        config.presence_policy = policy
    if "notifier-202" in merged:
        value = merged["notifier-202"]
        if not isinstance(value, bool):
            raise ConfigError(f"notifier-202: expected true or false, not {value!r}")
        config.notifier_202 = value
    if "workers" in merged:
        workers = merged["workers"]
        if isinstance(workers, bool) or not str(workers).isdigit() or not 1 <= int(workers) <= 64:
            raise ConfigError(f"workers: expected a number from 1 to 64, not {workers!r}")
        config.workers = int(workers)
    return config


def _list(value: Any, key: str) -> list[Any]:
    if isinstance(value, list):
        return value
    raise ConfigError(f"{key}: expected a list")


def _strings(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in _list(value, key)]
