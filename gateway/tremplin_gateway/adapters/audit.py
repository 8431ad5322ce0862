"""The audit log's repository."""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.audit import AuditEntry
from .orm import audit_log


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_many(self, entries: list[AuditEntry]) -> None:
        if entries:
            await self.session.execute(
                audit_log.insert(),
                [
                    {
                        "id": e.id, "at": e.at, "tenant": e.tenant, "subject": e.subject, "method": e.method,
                        "path": e.path[:2000], "status": e.status, "latency_ms": e.latency_ms,
                        "request_id": e.request_id, "client": e.client,
                    }
                    for e in entries
                ],
            )  # fmt: skip

    async def list(
        self,
        tenant: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        subject: str | None = None,
        status: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Newest first, of `tenant` only."""
        stmt = sa.select(audit_log).where(audit_log.c.tenant == tenant)
        if since is not None:
            stmt = stmt.where(audit_log.c.at >= since)
        if until is not None:
            stmt = stmt.where(audit_log.c.at < until)
        if subject is not None:
            stmt = stmt.where(audit_log.c.subject == subject)
        if status is not None:
            stmt = stmt.where(audit_log.c.status == status)
        stmt = stmt.order_by(audit_log.c.at.desc(), audit_log.c.id).limit(limit)
        return [
            AuditEntry(
                id=r.id, at=r.at, tenant=r.tenant, subject=r.subject, method=r.method, path=r.path,
                status=r.status, latency_ms=r.latency_ms, request_id=r.request_id, client=r.client,
            )
            for r in await self.session.execute(stmt)
        ]  # fmt: skip
