"""Settings common to every component; each component subclasses with its own env prefix."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ComponentSettings(BaseSettings):
    """Read from `<PREFIX>_<FIELD>` environment variables (prefix set by the subclass)."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = "sqlite+aiosqlite:///var/component.db"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_partitions: int = Field(default=6, ge=1)
    # Signs the identity the gateway forwards; the same value on the gateway and every service.
    identity_secret: str = "dev-identity-secret-change-me"
    identity_max_age_seconds: int = 300
    consumer_max_attempts: int = Field(default=5, ge=1)
    consumer_retry_backoff_seconds: float = 0.2
    # How fast a consumer group replaces a member that died (its partitions wait that long).
    consumer_session_timeout_ms: int = 10_000
    consumer_heartbeat_interval_ms: int = 1_000
    consumer_rebalance_timeout_ms: int = 10_000
    outbox_poll_interval_seconds: float = 0.05
    # An empty outbox is polled less and less often, down to once per this (commits here wake the relay).
    outbox_idle_poll_max_seconds: float = 1.0
    outbox_batch_size: int = 1000
    log_level: str = "INFO"
    # False for tests and tools that drive the relay/consumers themselves.
    run_background_workers: bool = True

    def consumer_group_options(self) -> dict:
        return {
            "session_timeout_ms": self.consumer_session_timeout_ms,
            "heartbeat_interval_ms": self.consumer_heartbeat_interval_ms,
            "rebalance_timeout_ms": self.consumer_rebalance_timeout_ms,
        }
