"""API key management: used by the gateway's own routes, the operator CLI and `tremplin run`.

Functions take a sessionmaker (one transaction each) so that the CLI can call them directly.
"""

import asyncio
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tremplin_shared.db import make_engine, make_sessionmaker
from tremplin_shared.migrations import upgrade_to_head

from .adapters.api_keys import ApiKeyRepository
from .domain.api_keys import ApiKey, KeyRejected, parse_prefix, validate_tenant

MIGRATIONS = Path(__file__).parent / "migrations"

Sessionmaker = async_sessionmaker[AsyncSession]

# The demo territory is loaded through the gateway with the demo key: hundreds of calls at once.
DEMO_RATE_LIMIT = "6000/minute"


def utcnow() -> datetime:
    return datetime.now(UTC)


def migrate(database_url: str) -> None:
    """Apply the gateway's migrations (synchronous; the app runs it in a thread at start)."""
    upgrade_to_head(MIGRATIONS, database_url)


async def create_api_key(
    sessionmaker: Sessionmaker,
    tenant: str,
    roles: Iterable[str],
    name: str,
    *,
    tenant_name: str | None = None,
    expires_at: datetime | None = None,
    rate_limit: str | None = None,
    max_rate_limit: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key for `tenant` (created if missing) and its plaintext, which is not stored anywhere.

    `max_rate_limit`: the highest own rate limit allowed (`GATEWAY_API_KEY_MAX_RATE_LIMIT`).
    """
    roles = list(roles)
    for _attempt in range(3):
        now = utcnow()
        key, plaintext = ApiKey.issue(validate_tenant(tenant), roles, name, now, expires_at, rate_limit, max_rate_limit)
        async with sessionmaker() as session:
            repo = ApiKeyRepository(session)
            try:
                await repo.ensure_tenant(key.tenant, tenant_name or key.tenant, now)
                await repo.add(key)
                await session.commit()
            except IntegrityError:  # a prefix collision (48 bits): draw another key
                await session.rollback()
                continue
        return key, plaintext
    raise RuntimeError("could not allocate a unique API key prefix")


async def list_api_keys(sessionmaker: Sessionmaker, tenant: str | None = None) -> list[ApiKey]:
    async with sessionmaker() as session:
        return await ApiKeyRepository(session).list(tenant)


async def get_api_key(sessionmaker: Sessionmaker, key_id: uuid.UUID, tenant: str | None = None) -> ApiKey | None:
    """The key (of `tenant` only, when given), or None."""
    async with sessionmaker() as session:
        return await ApiKeyRepository(session).get(key_id, tenant)


async def revoke_api_key(sessionmaker: Sessionmaker, key_id: uuid.UUID, tenant: str | None = None) -> ApiKey | None:
    """The key, revoked (the first revocation time is kept); None if there is no such key (in `tenant`)."""
    async with sessionmaker() as session:
        repo = ApiKeyRepository(session)
        await repo.revoke(key_id, utcnow(), tenant)
        await session.commit()
        return await repo.get(key_id, tenant)


async def find_usable_key(sessionmaker: Sessionmaker, plaintext: str, now: datetime | None = None) -> ApiKey:
    """The key `plaintext` stands for, if it is active; KeyRejected otherwise. Does not write."""
    prefix = parse_prefix(plaintext)
    async with sessionmaker() as session:
        key = await ApiKeyRepository(session).get_by_prefix(prefix)
    if key is None:
        raise KeyRejected("invalid API key")
    key.check(plaintext, now or utcnow())
    return key


def ensure_demo_key(database_url: str, tenant: str, previous: str | None = None) -> str:
    """An admin key for the demo territory: `previous` if it still works there, else a new one.

    Synchronous, for `tremplin run`; applies the migrations first.
    """
    migrate(database_url)

    async def _ensure() -> str:
        engine = make_engine(database_url)
        try:
            sessionmaker = make_sessionmaker(engine)
            if previous:
                try:
                    key = await find_usable_key(sessionmaker, previous)
                except KeyRejected:
                    pass
                else:
                    if key.tenant == tenant and key.has_role("admin"):
                        return previous
            _, plaintext = await create_api_key(
                sessionmaker, tenant, ["admin"], "demo admin (tremplin run)", rate_limit=DEMO_RATE_LIMIT
            )
            return plaintext
        finally:
            await engine.dispose()

    return asyncio.run(_ensure())
