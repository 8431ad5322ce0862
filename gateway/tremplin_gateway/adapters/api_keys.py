"""The repository of tenants and API keys."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.api_keys import ApiKey
from .orm import api_keys, tenants


def _to_domain(row: sa.Row) -> ApiKey:
    return ApiKey(
        id=row.id,
        tenant=row.tenant,
        name=row.name,
        roles=tuple(row.roles),
        prefix=row.prefix,
        hash=row.hash,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        expires_at=row.expires_at,
        rate_limit=row.rate_limit,
    )


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ensure_tenant(self, slug: str, name: str, now: datetime) -> None:
        """Create the tenant unless it exists (safe when two callers race)."""
        dialect = postgresql if self.session.bind.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(tenants).values(slug=slug, name=name, created_at=now)
        await self.session.execute(stmt.on_conflict_do_nothing(index_elements=["slug"]))

    async def add(self, key: ApiKey) -> None:
        await self.session.execute(
            api_keys.insert().values(
                id=key.id,
                tenant=key.tenant,
                name=key.name,
                roles=list(key.roles),
                prefix=key.prefix,
                hash=key.hash,
                created_at=key.created_at,
                last_used_at=key.last_used_at,
                revoked_at=key.revoked_at,
                expires_at=key.expires_at,
                rate_limit=key.rate_limit,
            )
        )

    async def get(self, key_id: uuid.UUID, tenant: str | None = None) -> ApiKey | None:
        stmt = sa.select(api_keys).where(api_keys.c.id == key_id)
        if tenant is not None:
            stmt = stmt.where(api_keys.c.tenant == tenant)
        row = (await self.session.execute(stmt)).first()
        return _to_domain(row) if row else None

    async def get_by_prefix(self, prefix: str) -> ApiKey | None:
        row = (await self.session.execute(sa.select(api_keys).where(api_keys.c.prefix == prefix))).first()
        return _to_domain(row) if row else None

    async def list(self, tenant: str | None = None) -> list[ApiKey]:
        stmt = sa.select(api_keys).order_by(api_keys.c.tenant, api_keys.c.created_at, api_keys.c.id)
        if tenant is not None:
            stmt = stmt.where(api_keys.c.tenant == tenant)
        return [_to_domain(row) for row in await self.session.execute(stmt)]

    async def revoke(self, key_id: uuid.UUID, now: datetime, tenant: str | None = None) -> None:
        stmt = api_keys.update().where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        if tenant is not None:
            stmt = stmt.where(api_keys.c.tenant == tenant)
        await self.session.execute(stmt.values(revoked_at=now))

    async def touch(self, key_id: uuid.UUID, now: datetime) -> None:
        await self.session.execute(api_keys.update().where(api_keys.c.id == key_id).values(last_used_at=now))
