"""Settings common to every component; each component subclasses with its own env prefix."""

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The suffix of every development default of a secret: `make run` and the tests run on them,
# docker-compose refuses to start without real ones, a component started on one says so.
DEVELOPMENT_SECRET_SUFFIX = "-change-me"


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
    # Retention (messaging/retention.py). A published outbox row is kept this long after its
    # publication (published_at), then deleted: it holds the event's body (participant coordinates,
    # flags…). A pending row is never deleted, whatever its age. `tremplin outbox republish` can only
    # send again what this kept.
    outbox_retention_days: float = Field(default=7, gt=0)
    # An inbox row makes a redelivered event have no second effect, for as long as it is kept. Events
    # come again from Kafka within a topic's retention (7 days by default: a consumer group whose
    # offsets were lost reads the topic from the start), from `tremplin outbox republish` within the
    # outbox retention above, and from `tremplin dlq replay`, which puts a dead letter back on its
    # topic — where every other consumer of the topic, who applied it, sees it again — possibly weeks
    # later, once the bug is fixed. 30 days covers all three with room; it must stay longer than the
    # longest retention of the topics and their DLQs. An event older than this that comes again is
    # taken for a new one and applied a second time (a projection may step back to older data until
    # the next event; the erasure tombstones, kept apart and never purged, still stop an erased
    # person's events): replay older dead letters only after raising this. Rows are small, no data.
    inbox_retention_days: float = Field(default=30, gt=0)
    # How often the purge runs (a pass also runs at start), and the rows deleted per statement: each
    # batch is a short transaction of its own, so the purge never holds long locks.
    retention_purge_interval_seconds: float = Field(default=3600, gt=0)
    retention_purge_batch_size: int = Field(default=5000, ge=1)
    log_level: str = "INFO"
    # False for tests and tools that drive the relay/consumers themselves.
    run_background_workers: bool = True

    @model_validator(mode="after")
    def _inbox_outlives_outbox(self) -> "ComponentSettings":
        # A republished outbox row goes to consumers that applied it once: their inbox must remember it
        # (checked within a component; the values are meant to be the same on every component).
        if self.inbox_retention_days < self.outbox_retention_days:
            raise ValueError(
                f"inbox_retention_days ({self.inbox_retention_days}) must be at least outbox_retention_days "
                f"({self.outbox_retention_days}): events republished from the outbox would apply twice"
            )
        return self

    def development_secrets(self) -> list[str]:
        """The environment variables of the secrets still at their development default (names only)."""
        prefix = self.model_config.get("env_prefix", "")
        return [
            f"{prefix}{name}".upper()
            for name in type(self).model_fields
            if isinstance(value := getattr(self, name), str) and value.endswith(DEVELOPMENT_SECRET_SUFFIX)
        ]

    def consumer_group_options(self) -> dict:
        return {
            "session_timeout_ms": self.consumer_session_timeout_ms,
            "heartbeat_interval_ms": self.consumer_heartbeat_interval_ms,
            "rebalance_timeout_ms": self.consumer_rebalance_timeout_ms,
        }
