"""Settings from the environment, with the names agreed in API.md ("Operations").

Defaults work on a machine with PostgreSQL and RabbitMQ on localhost.
"""

from __future__ import annotations

import ipaddress
from functools import cached_property
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_NAMES = ("invite_service", "search_service", "notify_service", "report_service")
DEFAULT_PORTS = {
    "gateway": 8080,
    "invite_service": 8081,
    "search_service": 8082,
    "notify_service": 8083,
    "report_service": 8084,
}


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 192.168.1.7"`` → networks; a bad entry is a ValueError naming it."""
    networks = []
    for item in value.split(","):
        text = item.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError as exc:
            raise ValueError(f"{text!r} is not an IP address or network") from exc
    return tuple(networks)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=False)

    app_env: Literal["dev", "test", "prod"] = "dev"
    gateway_port: int = 8080
    public_base_url: str = "http://127.0.0.1:8080"

    # Each service gets its own database on this server: <db_prefix>_<service>.
    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    db_prefix: str = "appointment_invites"
    db_pool_min: int = 1
    db_pool_max: int = 10

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # Prefix of every exchange and queue, so an operator sees whose they are
    # and test runs can be isolated from each other.
    bus_namespace: str = "appointment_invites"
    # Quorum queues in production; a test run may use classic ones, which are far
    # lighter to create and delete by the hundred on a single small broker.
    bus_queue_type: Literal["quorum", "classic"] = "quorum"
    bus_prefetch: int = 32
    bus_publish_timeout_seconds: float = 10.0
    # Delays of the retry tiers; a message that failed on every tier is parked.
    bus_retry_delays_ms: list[int] = Field(default_factory=lambda: [1_000, 10_000, 60_000])
    outbox_poll_seconds: float = 1.0
    outbox_batch_size: int = 200

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "Appointment Invites <invites@localhost>"
    # Where the built-in SMTP sink listens when SMTP_HOST is unset.
    mail_sink_port: int = 1025

    admin_username: str = "admin"
    admin_password: str = "admin"

    # Shared secret of the gateway-signed identity (HMAC-SHA256).
    internal_auth_secret: str = "dev-only-internal-secret-change-me"
    identity_ttl_seconds: int = 60
    # Proxies (load balancer, ingress) in front of the gateway whose X-Forwarded-For
    # is believed, comma-separated addresses or networks; empty: the peer is the client.
    trusted_proxies: str = ""

    invite_service_url: str = "http://127.0.0.1:8081"
    search_service_url: str = "http://127.0.0.1:8082"
    notify_service_url: str = "http://127.0.0.1:8083"
    report_service_url: str = "http://127.0.0.1:8084"

    # The port a service process listens on; the launcher sets it per copy.
    service_port: int | None = None
    log_level: str = "INFO"

    @property
    def is_test(self) -> bool:
        return self.app_env == "test"

    def database_name(self, service: str) -> str:
        return f"{self.db_prefix}_{service}".lower()

    def port_for(self, service: str) -> int:
        if self.service_port is not None:
            return self.service_port
        if service == "gateway":
            return self.gateway_port
        return DEFAULT_PORTS[service]

    def service_urls(self, service: str) -> list[str]:
        """Base URLs of every copy of a service (comma-separated in the variable)."""
        raw: str = getattr(self, f"{service}_url")
        return [u.strip().rstrip("/") for u in raw.split(",") if u.strip()]

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @cached_property
    def trusted_proxy_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    @cached_property
    def retry_delays(self) -> tuple[int, ...]:
        return tuple(self.bus_retry_delays_ms)


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
