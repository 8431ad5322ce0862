from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tremplin_shared.settings import ComponentSettings


class Settings(ComponentSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///var/gateway.db"

    participants_url: str = "http://127.0.0.1:8001"
    matching_url: str = "http://127.0.0.1:8002"
    clauses_url: str = "http://127.0.0.1:8003"
    funding_url: str = "http://127.0.0.1:8004"

    # A down service must answer 503 at once, a slow one is given time: small connect, long read.
    upstream_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    upstream_read_timeout_seconds: float = Field(default=30.0, gt=0)
    upstream_write_timeout_seconds: float = Field(default=30.0, gt=0)
    # Waiting for a free connection when all of them are busy: 503 rather than queueing forever.
    upstream_pool_timeout_seconds: float = Field(default=2.0, gt=0)
    upstream_max_connections: int = Field(default=200, ge=1)
    upstream_max_keepalive_connections: int = Field(default=50, ge=0)
    upstream_keepalive_expiry_seconds: float = Field(default=5.0, ge=0)
    # Fetching each service's /openapi.json for the merged document.
    openapi_fetch_timeout_seconds: float = Field(default=2.0, gt=0)

    # last_used_at is written at most once per key and per interval, not on every request.
    api_key_touch_interval_seconds: float = Field(default=60.0, ge=0)

    # Rate limits (the `limits` notation). Memory storage unless a Redis URL is given, e.g.
    # redis://redis:6379/0 — needed as soon as more than one gateway process runs.
    redis_url: str | None = None
    rate_limit_default: str = "120/minute"  # per API key (or token subject), unless the key has its own
    rate_limit_auth_failures: str = "20/minute"  # failed authentications per client address
    rate_limit_key_prefix: str = "tremplin-gateway"  # Redis key prefix

    @property
    def upstreams(self) -> dict[str, str]:
        """Service name -> base URL."""
        return {
            "participants": self.participants_url,
            "matching": self.matching_url,
            "clauses": self.clauses_url,
            "funding": self.funding_url,
        }
