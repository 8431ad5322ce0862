"""The in-memory spatial index the ranking queries, per tenant, kept current after each commit.

Layout. Per tenant, two stores: matchable candidates (active, consenting, with a max travel distance,
given or by default) and open offers — a row failing a filter of its own is simply not indexed. Each
store is a uniform grid of 0.15° × 0.15° cells (16.7 km north-south, about 11 km east-west in
metropolitan France). A cell keeps its members and, built lazily after a change, a packed block of
NumPy columns (radians, cosine of latitude, limits, hours, requirement bits, ROME codes, ids); the
store lays its cells' blocks end to end in cell order (again lazily, after a change: a write costs
one cell, the next query one concatenation), so that a row of cells is one contiguous slice.

Queries. offer → candidates: the cells that can hold a candidate within reach of the offer, i.e. the
cells meeting the bounding box of the circle whose radius is the largest max travel distance of the
tenant's candidates; candidate → offers: the cells within the candidate's own limit. The bounding box
is exact on the sphere (latitude ± δ, longitude ± asin(sin δ / cos φ), every longitude when the circle
reaches a pole), with a margin. The gathered blocks are then evaluated with the domain's vectorised
rules (`domain.ranking`: the same ufuncs, in the same order, as the one-pair rules) and the top k is
taken by (score desc, distance asc, id asc). Cells only prune rows that cannot pass the distance
filter, so the result is the brute-force result, bit for bit.

Freshness. Writers never touch the index. A transaction that changes a candidate or an offer
*stages* the new state in its session (`stage_*`); the session's `after_commit` hands the staged
states to the index registered for the session's engine, and a rollback drops them: the index is never
ahead of the database. At start the index is registered first (changes committed meanwhile are
buffered), then loaded from the database, then the buffer is replayed — staged states are full row
states, so replaying one the load already saw changes nothing. Limitation: an index sees the commits of
its own process only; with several processes of the service, each must consume all participants events
and offer writes go through one process (true of `make run` and of docker-compose, one process each).
"""

import math
import uuid
import weakref
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from ..domain.ranking import (
    EARTH_RADIUS_KM,
    SAME_LETTER,
    SAME_SUBDOMAIN,
    SKILL_EXACT,
    WISH_EXACT,
    CandidateProfile,
    Match,
    OfferProfile,
    RankingRules,
    candidate_is_matchable,
    combine,
    effective_max_travel_km,
    haversine_from_radians,
    hours_many,
    proximity_many,
    schedule_mask,
    subdomain,
    top_k,
)
from .orm import candidates, offers

CELL_DEG = 0.15
_MARGIN_KM = 0.001  # the bounding box is widened by a metre: float noise never drops a row
_NO_CODE = 0  # vocabulary id of "no ROME code": matches nothing

# Packed columns (rows of a (F × n) float64 block).
LAT, LON, COS, MAXKM, HOURS, LICENCE, MASK = range(7)
_DEFAULT_BIT = 8  # in a candidate's MASK column: the limit is the default one


def cell_of(latitude: float, longitude: float, cell_deg: float = CELL_DEG) -> tuple[int, int]:
    n_rows, n_cols = math.ceil(180 / cell_deg), math.ceil(360 / cell_deg)
    row = min(max(int((latitude + 90.0) // cell_deg), 0), n_rows - 1)
    return row, int((longitude + 180.0) // cell_deg) % n_cols


def key_ranges(latitude: float, longitude: float, radius_km: float, cell_deg: float = CELL_DEG):
    """The grid cells meeting the bounding box of the spherical cap of `radius_km` around the point, as
    inclusive ranges of cell keys (row × columns + column), one or two per row of cells."""
    n_cols = math.ceil(360 / cell_deg)
    delta = (radius_km + _MARGIN_KM) / EARTH_RADIUS_KM
    phi = math.radians(latitude)
    lat_lo, lat_hi = math.degrees(phi - delta), math.degrees(phi + delta)
    row_lo = cell_of(max(lat_lo, -90.0), 0.0, cell_deg)[0]
    row_hi = cell_of(min(lat_hi, 90.0), 0.0, cell_deg)[0]
    all_cols = lat_lo <= -90.0 or lat_hi >= 90.0 or math.sin(delta) >= math.cos(phi)
    if not all_cols:
        dlon = math.degrees(math.asin(math.sin(delta) / math.cos(phi))) + 1e-9
        col_lo = math.floor((longitude - dlon + 180.0) / cell_deg)
        col_hi = math.floor((longitude + dlon + 180.0) / cell_deg)
        all_cols = col_hi - col_lo + 1 >= n_cols
    if all_cols:
        spans = [(0, n_cols - 1)]
    elif col_lo < 0:  # across the antimeridian
        spans = [(col_lo + n_cols, n_cols - 1), (0, col_hi)]
    elif col_hi >= n_cols:
        spans = [(col_lo, n_cols - 1), (0, col_hi - n_cols)]
    else:
        spans = [(col_lo, col_hi)]
    return [(row * n_cols + a, row * n_cols + b) for row in range(row_lo, row_hi + 1) for a, b in spans]


def cells_within(latitude: float, longitude: float, radius_km: float, cell_deg: float = CELL_DEG):
    n_cols = math.ceil(360 / cell_deg)
    return [
        divmod(key, n_cols)
        for lo, hi in key_ranges(latitude, longitude, radius_km, cell_deg)
        for key in range(lo, hi + 1)
    ]


class Vocabulary:
    """ROME codes ↔ small integers, with the sub-domain and letter of each (grow-only, shared by tenants)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {"": _NO_CODE}
        self._groups: dict[str, int] = {}
        self._prefix: list[int] = [-1]
        self._letter: list[int] = [-2]
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None
        self._offer_tables: dict[int, np.ndarray] = {}  # per code id, for the current vocabulary size

    def id(self, code: str | None) -> int:
        if not code:
            return _NO_CODE
        found = self.ids.get(code)
        if found is None:
            found = self.ids[code] = len(self._prefix)
            self._prefix.append(self._groups.setdefault("p" + subdomain(code), len(self._groups)))
            self._letter.append(self._groups.setdefault("l" + code[:1], len(self._groups)))
            self._arrays = None
        return found

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._arrays is None:
            self._arrays = (np.array(self._prefix, dtype=np.int64), np.array(self._letter, dtype=np.int64))
        return self._arrays

    def table_for_offer(self, code: str | None) -> np.ndarray:
        """For an offer's code: value of each (vocabulary code, role) pair, at 2·id (skill) and 2·id + 1 (wish)."""
        x = self.id(code)
        prefix, letter = self.arrays()
        cached = self._offer_tables.get(x)
        if cached is not None and cached.shape[0] == 2 * prefix.shape[0]:
            return cached
        table = self._offer_tables[x] = self._table_for_offer(x, prefix, letter)
        return table

    @staticmethod
    def _table_for_offer(x: int, prefix: np.ndarray, letter: np.ndarray) -> np.ndarray:
        if x == _NO_CODE:
            return np.zeros(2 * prefix.shape[0])
        table = np.zeros(2 * prefix.shape[0])
        base = np.where(prefix == prefix[x], SAME_SUBDOMAIN, np.where(letter == letter[x], SAME_LETTER, 0.0))
        table[0::2] = base
        table[1::2] = base
        table[2 * x] = SKILL_EXACT
        table[2 * x + 1] = WISH_EXACT
        return table

    def table_for_candidate(self, skills: Iterable[str], wishes: Iterable[str]) -> np.ndarray:
        """For a candidate: the skills component of an offer of each vocabulary code."""
        skill_ids = [self.id(c) for c in skills]
        wish_ids = [self.id(c) for c in wishes]
        prefix, letter = self.arrays()
        own = np.array(skill_ids + wish_ids, dtype=np.int64)
        table = np.where(
            np.isin(prefix, prefix[own]), SAME_SUBDOMAIN, np.where(np.isin(letter, letter[own]), SAME_LETTER, 0.0)
        )
        table[wish_ids] = WISH_EXACT
        table[skill_ids] = SKILL_EXACT
        table[_NO_CODE] = 0.0
        return table


@dataclass(frozen=True)
class _Entry:
    profile: CandidateProfile | OfferProfile
    cell: tuple[int, int]
    column: tuple[float, ...]  # the packed numeric column
    hi: int
    lo: int
    codes: tuple[int, ...]  # candidates: encoded codes (2·id skills, 2·id + 1 wishes); offers: (code id,)


class _Block:
    """Rows as NumPy columns: `num` (F × n floats), ids as two uint64, ROME codes as an (n × width)
    matrix padded with the no-code id."""

    __slots__ = ("codes", "hi", "lo", "num")

    def __init__(self, num: np.ndarray, hi: np.ndarray, lo: np.ndarray, codes: np.ndarray):
        self.num, self.hi, self.lo, self.codes = num, hi, lo, codes

    @staticmethod
    def pack(entries: list[_Entry]) -> "_Block":
        width = max(len(e.codes) for e in entries)
        codes = np.full((len(entries), width), _NO_CODE, dtype=np.int64)
        for i, e in enumerate(entries):
            codes[i, : len(e.codes)] = e.codes
        return _Block(
            np.array([e.column for e in entries], dtype=np.float64).T.copy(),
            np.array([e.hi for e in entries], dtype=np.uint64),
            np.array([e.lo for e in entries], dtype=np.uint64),
            codes,
        )

    @staticmethod
    def concat(blocks: list["_Block"]) -> "_Block":
        if len(blocks) == 1:
            return blocks[0]
        width = max(b.codes.shape[1] for b in blocks)
        codes = np.full((sum(b.codes.shape[0] for b in blocks), width), _NO_CODE, dtype=np.int64)
        at = 0
        for b in blocks:
            codes[at : at + b.codes.shape[0], : b.codes.shape[1]] = b.codes
            at += b.codes.shape[0]
        return _Block(
            np.concatenate([b.num for b in blocks], axis=1),
            np.concatenate([b.hi for b in blocks]),
            np.concatenate([b.lo for b in blocks]),
            codes,
        )


class _Cell:
    __slots__ = ("block", "members")

    def __init__(self) -> None:
        self.members: dict[uuid.UUID, _Entry] = {}
        self.block: _Block | None = None

    def packed(self) -> _Block:
        if self.block is None:
            self.block = _Block.pack(list(self.members.values()))
        return self.block


class _Store:
    """One kind of row of one tenant. Writes touch one cell; the first query after a write re-packs the
    store — the cells' blocks (only changed cells are rebuilt) laid end to end in cell-key order — so a
    query reads each row of cells of its bounding box as one contiguous slice (`searchsorted`)."""

    def __init__(self, cell_deg: float) -> None:
        self.cell_deg = cell_deg
        self.n_cols = math.ceil(360 / cell_deg)
        self.entries: dict[uuid.UUID, _Entry] = {}
        self.cells: dict[tuple[int, int], _Cell] = {}
        self.limits: Counter[float] = Counter()  # candidates: how many rows have each max travel distance
        self._max_limit: float | None = None
        self._packed: tuple[np.ndarray, _Block] | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key: uuid.UUID) -> bool:
        return key in self.entries

    def put(self, key: uuid.UUID, entry: _Entry, limit: float | None = None) -> None:
        self.remove(key)
        self.entries[key] = entry
        cell = self.cells.setdefault(entry.cell, _Cell())
        cell.members[key] = entry
        cell.block = None
        self._packed = None
        if limit is not None:
            self.limits[limit] += 1
            self._max_limit = None

    def remove(self, key: uuid.UUID) -> None:
        entry = self.entries.pop(key, None)
        if entry is None:
            return
        cell = self.cells[entry.cell]
        del cell.members[key]
        cell.block = None
        self._packed = None
        if not cell.members:
            del self.cells[entry.cell]
        limit = entry.column[MAXKM]
        if limit in self.limits:
            self.limits[limit] -= 1
            if self.limits[limit] <= 0:
                del self.limits[limit]
            self._max_limit = None

    def max_limit(self) -> float:
        if self._max_limit is None:
            self._max_limit = max(self.limits) if self.limits else 0.0
        return self._max_limit

    def packed(self) -> tuple[np.ndarray, _Block] | None:
        if self._packed is None and self.cells:
            keys = sorted(self.cells)
            blocks = [self.cells[key].packed() for key in keys]
            sizes = [b.hi.shape[0] for b in blocks]
            cell_keys = np.array([row * self.n_cols + col for row, col in keys], dtype=np.int64)
            self._packed = (np.repeat(cell_keys, sizes), _Block.concat(blocks))
        return self._packed

    def locate(self, latitude: float, longitude: float, radius_km: float) -> tuple:
        """(the store's packed block, the positions of the rows in the cells of the bounding box, their
        numeric columns — a view when they are one slice). Nothing there: empty positions."""
        packed = self.packed()
        if packed is None:
            return None, np.empty(0, dtype=np.int64), None
        keys, block = packed
        ranges = np.array(key_ranges(latitude, longitude, radius_km, self.cell_deg), dtype=np.int64)
        starts = np.searchsorted(keys, ranges[:, 0], side="left").tolist()
        ends = np.searchsorted(keys, ranges[:, 1], side="right").tolist()
        spans = [(a, b) for a, b in zip(starts, ends, strict=True) if b > a]
        if len(spans) == 1:
            a, b = spans[0]
            return block, np.arange(a, b), block.num[:, a:b]
        positions = np.concatenate([np.arange(a, b) for a, b in spans]) if spans else np.empty(0, dtype=np.int64)
        return block, positions, block.num[:, positions]


class _Tenant:
    def __init__(self, cell_deg: float) -> None:
        self.candidates = _Store(cell_deg)
        self.offers = _Store(cell_deg)


def _halves(value: uuid.UUID) -> tuple[int, int]:
    return value.int >> 64, value.int & 0xFFFFFFFFFFFFFFFF


def _uuid(hi: int, lo: int) -> uuid.UUID:
    return uuid.UUID(int=(hi << 64) | lo)


def _position(latitude: float, longitude: float) -> tuple[float, float, float]:
    lat = np.radians(latitude)
    return float(lat), float(np.radians(longitude)), float(np.cos(lat))


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else float(value)


class SpatialIndex:
    """Matchable candidates and open offers of every tenant, on a grid; queries return domain `Match`es."""

    def __init__(self, rules: RankingRules | None = None, cell_deg: float = CELL_DEG) -> None:
        self.rules = rules or RankingRules()
        self.cell_deg = cell_deg
        self.vocabulary = Vocabulary()
        self._tenants: dict[str, _Tenant] = {}
        self._loading: list | None = None  # changes committed while the index loads

    def _tenant(self, tenant: str) -> _Tenant:
        found = self._tenants.get(tenant)
        if found is None:
            found = self._tenants[tenant] = _Tenant(self.cell_deg)
        return found

    def size(self, tenant: str) -> tuple[int, int]:
        found = self._tenants.get(tenant)
        return (len(found.candidates), len(found.offers)) if found else (0, 0)

    def contains_candidate(self, tenant: str, participant_id: uuid.UUID) -> bool:
        found = self._tenants.get(tenant)
        return found is not None and participant_id in found.candidates

    def contains_offer(self, tenant: str, offer_id: uuid.UUID) -> bool:
        found = self._tenants.get(tenant)
        return found is not None and offer_id in found.offers.entries

    def pack(self) -> None:
        """Pack every cell changed since its last query (queries pack lazily; after a bulk load, do it once)."""
        for found in self._tenants.values():
            for store in (found.candidates, found.offers):
                store.packed()

    # ------------------------------------------------------------------------------------------ writes

    def upsert_candidate(self, tenant: str, candidate: CandidateProfile) -> None:
        store = self._tenant(tenant).candidates
        if not candidate_is_matchable(candidate, self.rules):
            store.remove(candidate.id)
            return
        limit = float(effective_max_travel_km(candidate, self.rules))
        mask = schedule_mask(candidate.schedule_exclusions) | (_DEFAULT_BIT if candidate.max_travel_km is None else 0)
        codes = tuple(2 * self.vocabulary.id(c) for c in candidate.skills) + tuple(
            2 * self.vocabulary.id(c) + 1 for c in candidate.wishes
        )
        entry = _Entry(
            profile=candidate,
            cell=cell_of(candidate.latitude, candidate.longitude, self.cell_deg),
            column=(
                *_position(candidate.latitude, candidate.longitude),
                limit,
                _nan_if_none(candidate.weekly_hours_wanted),
                1.0 if candidate.driving_licence else 0.0,
                float(mask),
            ),
            hi=_halves(candidate.id)[0],
            lo=_halves(candidate.id)[1],
            codes=codes or (2 * _NO_CODE,),
        )
        store.put(candidate.id, entry, limit)

    def remove_candidate(self, tenant: str, participant_id: uuid.UUID) -> None:
        self._tenant(tenant).candidates.remove(participant_id)

    def upsert_offer(self, tenant: str, offer: OfferProfile) -> None:
        store = self._tenant(tenant).offers
        if offer.status != "open":
            store.remove(offer.id)
            return
        entry = _Entry(
            profile=offer,
            cell=cell_of(offer.latitude, offer.longitude, self.cell_deg),
            column=(
                *_position(offer.latitude, offer.longitude),
                math.nan,
                _nan_if_none(offer.weekly_hours),
                1.0 if offer.requires_driving_licence else 0.0,
                float(schedule_mask(offer.schedule)),
            ),
            hi=_halves(offer.id)[0],
            lo=_halves(offer.id)[1],
            codes=(self.vocabulary.id(offer.rome_code),),
        )
        store.put(offer.id, entry)

    def remove_offer(self, tenant: str, offer_id: uuid.UUID) -> None:
        self._tenant(tenant).offers.remove(offer_id)

    def apply(self, changes: Iterable[tuple]) -> None:
        """Committed changes, in commit order: ("candidate" | "offer", tenant, id, profile or None)."""
        if self._loading is not None:
            self._loading.extend(changes)
            return
        for kind, tenant, key, profile in changes:
            if kind == "candidate":
                self.upsert_candidate(tenant, profile) if profile else self.remove_candidate(tenant, key)
            else:
                self.upsert_offer(tenant, profile) if profile else self.remove_offer(tenant, key)

    # ------------------------------------------------------------------------------------------ queries

    def candidates_for(self, tenant: str, offer: OfferProfile, limit: int) -> list[Match]:
        """The best `limit` candidates for the offer (score desc, distance asc, participant id)."""
        found = self._tenants.get(tenant)
        if found is None or offer.status != "open":
            return []
        store = found.candidates
        block, positions, num = store.locate(offer.latitude, offer.longitude, store.max_limit())
        if positions.size == 0:
            return []
        lat, lon, cos = _position(offer.latitude, offer.longitude)
        distance = haversine_from_radians(num[LAT], num[COS], num[LON], lat, cos, lon)
        ok = distance <= num[MAXKM]
        if offer.requires_driving_licence:
            ok &= num[LICENCE] > 0
        wanted_schedule = schedule_mask(offer.schedule)
        if wanted_schedule:
            ok &= (num[MASK].astype(np.int64) & wanted_schedule) == 0
        rows = np.flatnonzero(ok)
        if rows.size == 0:
            return []
        at = positions[rows]
        skills = self.vocabulary.table_for_offer(offer.rome_code)[block.codes[at]].max(axis=1)
        distance, maxkm = distance[rows], num[MAXKM][rows]
        proximity = proximity_many(distance, maxkm)
        hours = hours_many(num[HOURS][rows], np.float64(_nan_if_none(offer.weekly_hours)))
        score = combine(self.rules.weights, skills, proximity, hours)
        best = top_k(score, distance, block.hi[at], block.lo[at], limit)
        chosen = at[best]
        columns = np.stack((distance, maxkm, skills, proximity, hours, score))[:, best].T.tolist()
        defaults = (block.num[MASK][chosen].astype(np.int64) & _DEFAULT_BIT).tolist()
        return [
            Match(offer.id, _uuid(hi, lo), d, m, bool(dflt), s, p, h, sc)
            for hi, lo, dflt, (d, m, s, p, h, sc) in zip(
                block.hi[chosen].tolist(), block.lo[chosen].tolist(), defaults, columns, strict=True
            )
        ]

    def offers_for(self, tenant: str, candidate: CandidateProfile, limit: int) -> list[Match]:
        """The best `limit` open offers for the candidate (score desc, distance asc, offer id)."""
        found = self._tenants.get(tenant)
        if found is None or not candidate_is_matchable(candidate, self.rules):
            return []
        reach = float(effective_max_travel_km(candidate, self.rules))
        block, positions, num = found.offers.locate(candidate.latitude, candidate.longitude, reach)
        if positions.size == 0:
            return []
        lat, lon, cos = _position(candidate.latitude, candidate.longitude)
        distance = haversine_from_radians(lat, cos, lon, num[LAT], num[COS], num[LON])
        ok = distance <= reach
        if not candidate.driving_licence:
            ok &= num[LICENCE] == 0
        excluded = schedule_mask(candidate.schedule_exclusions)
        if excluded:
            ok &= (num[MASK].astype(np.int64) & excluded) == 0
        rows = np.flatnonzero(ok)
        if rows.size == 0:
            return []
        at = positions[rows]
        skills = self.vocabulary.table_for_candidate(candidate.skills, candidate.wishes)[block.codes[at, 0]]
        distance = distance[rows]
        proximity = proximity_many(distance, np.float64(reach))
        hours = hours_many(np.float64(_nan_if_none(candidate.weekly_hours_wanted)), num[HOURS][rows])
        score = combine(self.rules.weights, skills, proximity, hours)
        best = top_k(score, distance, block.hi[at], block.lo[at], limit)
        chosen = at[best]
        default = candidate.max_travel_km is None
        columns = np.stack((distance, skills, proximity, hours, score))[:, best].T.tolist()
        return [
            Match(_uuid(hi, lo), candidate.id, d, reach, default, s, p, h, sc)
            for hi, lo, (d, s, p, h, sc) in zip(
                block.hi[chosen].tolist(), block.lo[chosen].tolist(), columns, strict=True
            )
        ]

    # ------------------------------------------------------------------------------------------ loading

    async def load(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        """Fill the index from the database. Changes committed meanwhile are replayed afterwards."""
        self._loading = []
        try:
            async with sessionmaker() as session:
                for row in await session.execute(sa.select(candidates)):
                    self.upsert_candidate(row.tenant, candidate_from_row(row._asdict()))
                for row in await session.execute(sa.select(offers).where(offers.c.status == "open")):
                    self.upsert_offer(row.tenant, offer_from_row(row._asdict()))
        finally:
            pending, self._loading = self._loading, None
        self.apply(pending)
        self.pack()


# ---------------------------------------------------------------------------------------------- rows


def candidate_from_row(row: dict) -> CandidateProfile:
    return CandidateProfile(
        id=row["participant_id"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        skills=tuple(row.get("skills") or ()),
        wishes=tuple(row.get("wishes") or ()),
        max_travel_km=row.get("max_travel_km"),
        weekly_hours_wanted=row.get("weekly_hours_wanted"),
        schedule_exclusions=frozenset(row.get("schedule_exclusions") or ()),
        driving_licence=bool(row.get("driving_licence")),
        consent_matching=bool(row.get("consent_matching")),
        active=bool(row.get("active")),
    )


def offer_from_row(row: dict) -> OfferProfile:
    return OfferProfile(
        id=row["id"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        rome_code=row.get("rome_code"),
        weekly_hours=row.get("weekly_hours"),
        requires_driving_licence=bool(row.get("requires_driving_licence")),
        night=bool(row.get("night")),
        weekend=bool(row.get("weekend")),
        early=bool(row.get("early")),
        status=row.get("status") or "open",
    )


# ---------------------------------------------------------------------------------------------- after commit

_STAGED = "tremplin_matching_index_changes"
_INDEXES: "weakref.WeakKeyDictionary[Engine, SpatialIndex]" = weakref.WeakKeyDictionary()


def register(engine: AsyncEngine, index: SpatialIndex) -> None:
    """From now on, what sessions of this engine commit reaches the index."""
    _INDEXES[engine.sync_engine] = index


def unregister(engine: AsyncEngine) -> None:
    _INDEXES.pop(engine.sync_engine, None)


def _stage(session: AsyncSession, change: tuple) -> None:
    session.sync_session.info.setdefault(_STAGED, []).append(change)


def stage_candidate(session: AsyncSession, tenant: str, candidate: CandidateProfile) -> None:
    _stage(session, ("candidate", tenant, candidate.id, candidate))


def stage_candidate_removed(session: AsyncSession, tenant: str, participant_id: uuid.UUID) -> None:
    _stage(session, ("candidate", tenant, participant_id, None))


def stage_offer(session: AsyncSession, tenant: str, offer: OfferProfile) -> None:
    _stage(session, ("offer", tenant, offer.id, offer))


async def stage_candidate_row(session: AsyncSession, tenant: str, participant_id: uuid.UUID) -> None:
    """Stage the candidate as this transaction leaves it (read back: for partial updates)."""
    stmt = sa.select(candidates).where(candidates.c.tenant == tenant, candidates.c.participant_id == participant_id)
    row = (await session.execute(stmt)).first()
    _stage(session, ("candidate", tenant, participant_id, candidate_from_row(row._asdict()) if row else None))


async def stage_offer_row(session: AsyncSession, tenant: str, offer_id: uuid.UUID) -> None:
    """Stage the offer as this transaction leaves it. Call it after any write to an offer."""
    row = (await session.execute(sa.select(offers).where(offers.c.tenant == tenant, offers.c.id == offer_id))).first()
    _stage(session, ("offer", tenant, offer_id, offer_from_row(row._asdict()) if row else None))


@event.listens_for(Session, "after_commit")
def _apply_after_commit(session: Session) -> None:
    changes = session.info.pop(_STAGED, None)
    if not changes:
        return
    index = _INDEXES.get(session.get_bind())
    if index is not None:
        index.apply(changes)


@event.listens_for(Session, "after_transaction_end")
def _drop_after_rollback(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended without after_commit: rolled back
        session.info.pop(_STAGED, None)
