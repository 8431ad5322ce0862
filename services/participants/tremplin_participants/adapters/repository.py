"""Participants storage. Every read is scoped by tenant: a foreign id is simply not found."""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tremplin_shared.db import bulk_insert, is_postgresql
from tremplin_shared.identity import Identity
from tremplin_shared.log import current_request_id

from ..domain.flags import (
    BELOW_CAP,
    LONG_TERM_YEARS,
    SENIOR_FROM_AGE,
    VERY_LONG_TERM_YEARS,
    YOUTH_BELOW_AGE,
    latest_start,
)
from ..domain.participant import Participant
from .orm import access_log, cers, diagnostics, parcours, parcours_transitions, participants, referent_assignments

FIELDS = tuple(f.name for f in fields(Participant))
COLUMNS = [participants.c[name] for name in FIELDS]
INSERTED = (*FIELDS, "search_name")  # the columns `_values` fills


def _values(participant: Participant) -> dict:
    values = {name: getattr(participant, name) for name in FIELDS}
    values["search_name"] = participant.search_name
    return values


def _participant(row: sa.Row) -> Participant:
    return Participant(**{name: getattr(row, name) for name in FIELDS})


_INSERT = insert(participants)


async def add(session: AsyncSession, participant: Participant) -> None:
    # Values as parameters of a fixed statement, built and compiled once, not again on every request.
    await session.execute(_INSERT, _values(participant))


async def add_many(session: AsyncSession, batch: Sequence[Participant]) -> None:
    """One statement for a batch (bulk import): the rows as arrays on PostgreSQL, an executemany elsewhere."""
    if not batch:
        return
    if is_postgresql(session):
        await bulk_insert(participants, INSERTED).execute(session, map(_values, batch))
    else:
        await session.execute(_INSERT, [_values(p) for p in batch])


async def get(
    session: AsyncSession, tenant: str, participant_id: uuid.UUID, *, for_update: bool = False
) -> Participant | None:
    """The participant of this tenant, erased or not (the caller decides what an erased one means)."""
    stmt = select(*COLUMNS).where(participants.c.tenant == tenant, participants.c.id == participant_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).first()
    return None if row is None else _participant(row)


async def save(session: AsyncSession, participant: Participant) -> None:
    values = _values(participant)
    del values["id"], values["tenant"]
    await session.execute(
        update(participants)
        .where(participants.c.tenant == participant.tenant, participants.c.id == participant.id)
        .values(values)
    )


async def find_by_nir_hash(
    session: AsyncSession, tenant: str, nir_hash: str, *, other_than: uuid.UUID | None = None
) -> uuid.UUID | None:
    stmt = select(participants.c.id).where(participants.c.tenant == tenant, participants.c.nir_hash == nir_hash)
    if other_than is not None:
        stmt = stmt.where(participants.c.id != other_than)
    return (await session.execute(stmt)).scalar()


async def existing_nir_hashes(session: AsyncSession, tenant: str, hashes: Iterable[str]) -> dict[str, uuid.UUID]:
    """Which of these hashes a participant of the tenant already has, in chunks (bulk import)."""
    hashes, found = list(hashes), {}
    for start in range(0, len(hashes), 500):
        chunk = hashes[start : start + 500]
        rows = await session.execute(
            select(participants.c.nir_hash, participants.c.id).where(
                participants.c.tenant == tenant, participants.c.nir_hash.in_(chunk)
            )
        )
        found.update({h: pid for h, pid in rows})
    return found


async def has_open_parcours(session: AsyncSession, tenant: str, participant_id: uuid.UUID) -> bool:
    stmt = select(
        sa.exists().where(
            parcours.c.tenant == tenant, parcours.c.participant_id == participant_id, parcours.c.exited_at.is_(None)
        )
    )
    return bool((await session.execute(stmt)).scalar())


async def latest_diagnostic(session: AsyncSession, tenant: str, participant_id: uuid.UUID) -> dict | None:
    row = (
        await session.execute(
            select(diagnostics)
            .where(diagnostics.c.tenant == tenant, diagnostics.c.participant_id == participant_id)
            .order_by(diagnostics.c.made_at.desc(), diagnostics.c.recorded_at.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else row._asdict()


async def forget_personal_traces(session: AsyncSession, tenant: str, participant_id: uuid.UUID) -> None:
    """Erasure, beyond the participant row: what the parcours side holds that describes the person.

    Diagnostics (barriers: health, housing, language… and skills) are deleted; the free-text reasons of
    transitions and the CER objectives are blanked. Parcours, transitions (dates, states, exit kinds),
    référent assignments, CER dates and hires stay: they are the statistics.
    """
    await session.execute(
        delete(diagnostics).where(diagnostics.c.tenant == tenant, diagnostics.c.participant_id == participant_id)
    )
    of_participant = select(parcours.c.id).where(
        parcours.c.tenant == tenant, parcours.c.participant_id == participant_id
    )
    await session.execute(
        update(parcours_transitions)
        .where(parcours_transitions.c.tenant == tenant, parcours_transitions.c.parcours_id.in_(of_participant))
        .values(reason=None)
    )
    await session.execute(
        update(cers).where(cers.c.tenant == tenant, cers.c.parcours_id.in_(of_participant)).values(objectives=[])
    )


# ------------------------------------------------------------------------------------------ the list
@dataclass(frozen=True)
class ListFilters:
    programme: str | None = None
    state: str | None = None
    referent: str | None = None
    flag: str | None = None
    q: str | None = None  # already folded with domain.participant.search_key


def flag_condition(flag: str, at: date) -> sa.ColumnElement[bool]:
    """The SQL twin of domain.flags.compute_flags for one flag at `at`.

    Every age or duration rule becomes a comparison with a threshold date computed here, so the
    filter runs in the database and keyset pagination stays exact (tests check both agree).
    """
    c = participants.c
    long_term = sa.and_(c.unemployed_since.is_not(None), c.unemployed_since <= latest_start(at, LONG_TERM_YEARS))
    youth = c.birth_date > latest_start(at, YOUTH_BELOW_AGE)
    senior = c.birth_date <= latest_start(at, SENIOR_FROM_AGE)
    conditions = {
        "long_term_unemployed": long_term,
        "very_long_term_unemployed": sa.and_(
            c.unemployed_since.is_not(None), c.unemployed_since <= latest_start(at, VERY_LONG_TERM_YEARS)
        ),
        "youth": youth,
        "senior": senior,
        "rsa": c.rsa.is_(True),
        "rqth": c.rqth.is_(True),
        "qpv": c.qpv.is_(True),
        "clause_eligible": sa.or_(
            long_term,
            c.rsa.is_(True),
            sa.and_(youth, c.education_level == BELOW_CAP),
            c.rqth.is_(True),
            sa.and_(senior, c.job_seeker_registered.is_(True)),
            c.siae_employee.is_(True),
        ),
    }
    return conditions[flag]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _list_conditions(tenant: str, filters: ListFilters, at: date) -> list[sa.ColumnElement[bool]]:
    c = participants.c
    conditions = [c.tenant == tenant, c.erased_at.is_(None)]
    if filters.programme or filters.state or filters.referent:
        # One parcours must satisfy every parcours filter together (e.g. the open rsa parcours, in
        # state `supported`, whose active référent is X). `state=exited` looks at closed parcours.
        p = parcours.c
        in_parcours = [p.tenant == tenant, p.participant_id == c.id]
        if filters.state != "exited":
            in_parcours.append(p.exited_at.is_(None))
        if filters.programme:
            in_parcours.append(p.programme == filters.programme)
        if filters.state:
            in_parcours.append(p.state == filters.state)
        if filters.referent:
            r = referent_assignments.c
            in_parcours.append(
                sa.exists().where(
                    r.tenant == tenant, r.parcours_id == p.id, r.ended_at.is_(None), r.referent == filters.referent
                )
            )
        conditions.append(sa.exists().where(*in_parcours))
    if filters.flag:
        conditions.append(flag_condition(filters.flag, at))
    if filters.q:
        for word in filters.q.split():
            conditions.append(c.search_name.like(f"%{_escape_like(word)}%", escape="\\"))
    return conditions


async def sort_key(session: AsyncSession, tenant: str, participant_id: uuid.UUID) -> tuple[str, str] | None:
    """(last_name, first_name) of a cursor's participant: the keyset position to continue after."""
    row = (
        await session.execute(
            select(participants.c.last_name, participants.c.first_name).where(
                participants.c.tenant == tenant, participants.c.id == participant_id
            )
        )
    ).first()
    return None if row is None else (row.last_name, row.first_name)


async def list_page(
    session: AsyncSession,
    tenant: str,
    filters: ListFilters,
    at: date,
    limit: int,
    after: tuple[str, str, uuid.UUID] | None = None,
) -> tuple[list[Participant], bool]:
    """One page in (last_name, first_name, id) order, after the given key; and whether more follow."""
    c = participants.c
    stmt = select(*COLUMNS).where(*_list_conditions(tenant, filters, at))
    if after is not None:
        stmt = stmt.where(sa.tuple_(c.last_name, c.first_name, c.id) > sa.tuple_(*after))
    stmt = stmt.order_by(c.last_name, c.first_name, c.id).limit(limit + 1)
    rows = (await session.execute(stmt)).all()
    return [_participant(r) for r in rows[:limit]], len(rows) > limit


# ---------------------------------------------------------------------------------------- access log
async def log_access(
    session: AsyncSession, identity: Identity, participant_ids: Iterable[uuid.UUID], action: str
) -> None:
    """Record reads of personal data: one row per participant, in the caller's transaction.

    `action` says what was read or done: "read", "list", "update", "erase", "timeline"… Call it
    inside the transaction of the read, so the log row commits with it.
    """
    now = datetime.now(UTC)
    request_id = identity.request_id or current_request_id()
    rows = [
        {
            "id": uuid.uuid4(),
            "tenant": identity.tenant,
            "participant_id": participant_id,
            "subject": identity.subject[:200],
            "action": action[:50],
            "request_id": request_id[:128] if request_id else None,
            "at": now,
        }
        for participant_id in dict.fromkeys(participant_ids)
    ]
    if rows:
        await session.execute(insert(access_log), rows)


async def access_log_page(
    session: AsyncSession,
    tenant: str,
    participant_id: uuid.UUID,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None = None,
) -> tuple[list[dict], bool]:
    """Newest first (at, then id, descending)."""
    a = access_log.c
    stmt = select(a.id, a.participant_id, a.subject, a.action, a.request_id, a.at).where(
        a.tenant == tenant, a.participant_id == participant_id
    )
    if before is not None:
        stmt = stmt.where(sa.tuple_(a.at, a.id) < sa.tuple_(*before))
    rows = (await session.execute(stmt.order_by(a.at.desc(), a.id.desc()).limit(limit + 1))).all()
    return [r._asdict() for r in rows[:limit]], len(rows) > limit
