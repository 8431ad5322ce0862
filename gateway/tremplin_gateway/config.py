from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from tremplin_shared.settings import ComponentSettings

from .domain.api_keys import validate_rate_limit


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
    # Waiting for a free connection when all of them are busy: 503 rather than queueing forever.
    upstream_pool_timeout_seconds: float = Field(default=2.0, gt=0)
    # The whole request body is read at the gateway within this time (408 beyond), before any
    # upstream connection is taken: a slow client holds no connection of the shared pool.
    request_body_timeout_seconds: float = Field(default=10.0, gt=0)
    upstream_max_connections: int = Field(default=200, ge=1)
    upstream_keepalive_expiry_seconds: float = Field(default=5.0, ge=0)
    # Per-upstream read timeout, overriding the one above: {"funding": 60} (JSON in the env var).
    upstream_read_timeouts: dict[str, float] = Field(default_factory=dict)
    # Retries of GET/HEAD/OPTIONS (never of a method that may write) when the upstream could not be
    # reached or answered 502/503/504; backoff base between attempts.
    upstream_retries: int = Field(default=2, ge=0, le=5)
    upstream_retry_backoff_seconds: float = Field(default=0.05, ge=0)
    # Circuit breaker per upstream: that many consecutive failures open it; after the recovery
    # time one probe request goes through.
    circuit_failure_threshold: int = Field(default=5, ge=1)
    circuit_recovery_seconds: float = Field(default=10.0, gt=0)
    # Largest request body accepted (413 beyond).
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    # The audit of every request is written in batches, at most this long after the request.
    audit_flush_interval_seconds: float = Field(default=0.5, gt=0)
    # Webhooks out: retry schedule (base · 2^(n-1), capped), attempts per delivery, and how many
    # consecutive failed attempts disable a subscription (until its admin re-enables it). Each
    # network step of an attempt (connect, each read) within the timeout, the whole attempt
    # (resolving, connecting, sending, the answer's first KiB) within the deadline.
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    webhook_attempt_deadline_seconds: float = Field(default=10.0, gt=0, le=300)
    webhook_retry_base_seconds: float = Field(default=5.0, ge=0)
    webhook_retry_max_backoff_seconds: float = Field(default=3600.0, ge=0)
    webhook_max_attempts: int = Field(default=10, ge=1)
    webhook_disable_after: int = Field(default=20, ge=1)
    webhook_poll_interval_seconds: float = Field(default=0.5, gt=0)
    # Webhook targets: https only, and only hosts resolving to public addresses (no loopback,
    # private, link-local, metadata…), checked when subscribing and at every attempt. Both are
    # relaxations for local development and tests only.
    webhook_allow_http: bool = False
    webhook_allow_private_addresses: bool = False
    # CORS: the origins allowed to call the API from a browser (none by default: no CORS headers).
    cors_allow_origins: list[str] = Field(default_factory=list)
    # Fetching each service's /openapi.json for the merged document.
    openapi_fetch_timeout_seconds: float = Field(default=2.0, gt=0)
    # How long the merged document is kept (it is public: no flood of readers reaches the services),
    # and how long when a service did not answer (to be tried again soon).
    openapi_cache_seconds: float = Field(default=60.0, ge=0)
    openapi_incomplete_cache_seconds: float = Field(default=5.0, ge=0)
    # /metrics is on the public port: when set, a scrape must send `Authorization: Bearer <token>`.
    # Unset, /metrics answers anyone (then keep it off the ingress): it holds counts only, no tenant.
    metrics_token: str | None = Field(default=None, min_length=16)

    # last_used_at is written at most once per key and per interval, not on every request.
    api_key_touch_interval_seconds: float = Field(default=60.0, ge=0)
    # A valid key is remembered that long (no database read per request); a revocation made through
    # this instance's admin API applies at once, one made elsewhere (CLI, other instance) within it.
    api_key_cache_seconds: float = Field(default=5.0, ge=0)
    # The highest rate limit a key may have of its own (compared as an average rate: 100/second is
    # as much as 6000/minute); a key created above it is refused (422), an older one is held to it.
    api_key_max_rate_limit: str = "6000/minute"

    # OIDC bearer tokens (off unless an issuer is set): the provider's issuer and this API's
    # audience, its keys (a JWKS URL, fetched and cached, or the JWKS JSON itself), and which claims
    # carry the tenant and the roles (dotted paths: "realm_access.roles").
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_url: str | None = None
    oidc_jwks: str | None = None
    oidc_jwks_cache_seconds: float = Field(default=300.0, ge=0)
    oidc_tenant_claim: str = "tenant"
    oidc_roles_claim: str = "roles"
    oidc_algorithms: list[str] = Field(default_factory=lambda: ["RS256"])
    oidc_leeway_seconds: int = Field(default=30, ge=0)

    # Rate limits (the `limits` notation). Memory storage unless a Redis URL is given, e.g.
    # redis://redis:6379/0 — needed as soon as more than one gateway process runs.
    redis_url: str | None = None
    rate_limit_default: str = "120/minute"  # per API key (or token subject), unless the key has its own
    # Failed authentications per client address and presented credential (its key prefix, or a
    # hash), and per client address whatever the credential: beyond either, a failing credential
    # from that address is 429. A credential that authenticates is never refused by these.
    rate_limit_auth_failures: str = "20/minute"
    rate_limit_auth_failures_per_address: str = "200/minute"
    rate_limit_key_prefix: str = "tremplin-gateway"  # Redis key prefix

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value  # compose passes ${TREMPLIN_METRICS_TOKEN:-} when unset

    @field_validator("api_key_max_rate_limit")
    @classmethod
    def _simple_rate_limit(cls, value: str) -> str:
        return validate_rate_limit(value) or value  # InvalidApiKeyRequest is a ValueError: refused at start

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_audience and (self.oidc_jwks_url or self.oidc_jwks))

    @property
    def upstreams(self) -> dict[str, str]:
        """Service name -> base URL."""
        return {
            "participants": self.participants_url,
            "matching": self.matching_url,
            "clauses": self.clauses_url,
            "funding": self.funding_url,
        }
