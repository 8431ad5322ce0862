"""Ranking benchmark: the service's spatial index against brute-force NumPy and PostGIS.

    .venv/bin/python -m bench.matching [--offers 100000] [--candidates 50000] [--queries 300] [--k 20]
                                       [--seed 41] [--no-postgis]

One run, one synthetic territory: real French communes (metropolitan and overseas) with their
coordinates, rows jittered around them (Gaussian, σ ≈ 8 km), random ROME codes, hours, mobility,
requirements, schedules, consent and status. The same top-k queries, in both directions (offer →
candidates, candidate → offers), are timed one by one for:

(a) index: the service's code, `SpatialIndex.candidates_for` / `offers_for`, built from the same rows.
(b) numpy: brute force over every row of the tenant with vectorised NumPy — haversine, the hard
    filters and the score written out again here, independently, with the same rules and the same
    floating-point expressions, then the top k by (score desc, distance asc, id asc).
(c) postgis: the rows in PostgreSQL 15 + PostGIS (geography points, GiST index), one SQL query per
    ranking: `ST_DWithin` then the filters, the score computed in SQL and `ORDER BY score DESC,
    distance, id LIMIT k`. PostGIS's sphere (R = 6371008.77 m) is not exactly the service's
    (6371008.8 m), so (c) is timed and its overlap with (a) reported, not required to be identical.
    PostgreSQL must answer on 127.0.0.1:5432 (user postgres; TREMPLIN_BENCH_POSTGRES to change);
    PostGIS is installed with apt-get (Debian's postgresql-15-postgis-3) when missing; if that is
    impossible, (c) is skipped and the reason printed.

Every (a) result must equal (b)'s exactly: ids, order, scores and distances, bit for bit. The ratios
(b)/(a) and (c)/(a) at p50 and p95 are printed with the absolute latencies. Targets: ≥ 5× at p95.
"""

import argparse
import asyncio
import gc
import os
import random
import shutil
import subprocess
import time
import uuid

import numpy as np
from rich.console import Console
from rich.table import Table

from tremplin_matching.adapters.spatial_index import SpatialIndex
from tremplin_matching.domain.ranking import CandidateProfile, OfferProfile, RankingRules

console = Console(width=170)
EARTH_RADIUS_KM = 6371.0088
TENANT = "bench"

# Real communes and their coordinates (town hall or centre, WGS 84).
COMMUNES = [
    ("Paris", 48.8566, 2.3522), ("Marseille", 43.2965, 5.3698), ("Lyon", 45.7640, 4.8357),
    ("Toulouse", 43.6047, 1.4442), ("Nice", 43.7102, 7.2620), ("Nantes", 47.2184, -1.5536),
    ("Strasbourg", 48.5734, 7.7521), ("Montpellier", 43.6108, 3.8767), ("Bordeaux", 44.8378, -0.5792),
    ("Lille", 50.6292, 3.0573), ("Rennes", 48.1173, -1.6778), ("Reims", 49.2583, 4.0317),
    ("Le Havre", 49.4944, 0.1079), ("Saint-Étienne", 45.4397, 4.3872), ("Toulon", 43.1242, 5.9280),
    ("Grenoble", 45.1885, 5.7245), ("Dijon", 47.3220, 5.0415), ("Angers", 47.4784, -0.5632),
    ("Nîmes", 43.8367, 4.3601), ("Clermont-Ferrand", 45.7772, 3.0870), ("Le Mans", 48.0061, 0.1996),
    ("Brest", 48.3904, -4.4861), ("Tours", 47.3941, 0.6848), ("Amiens", 49.8941, 2.2958),
    ("Limoges", 45.8336, 1.2611), ("Perpignan", 42.6887, 2.8948), ("Metz", 49.1193, 6.1757),
    ("Besançon", 47.2378, 6.0241), ("Orléans", 47.9030, 1.9093), ("Rouen", 49.4432, 1.0999),
    ("Caen", 49.1829, -0.3707), ("Nancy", 48.6921, 6.1844), ("Poitiers", 46.5802, 0.3404),
    ("Pau", 43.2951, -0.3708), ("La Rochelle", 46.1603, -1.1511), ("Blois", 47.5861, 1.3359),
    ("Vendôme", 47.7929, 1.0656), ("Romorantin-Lanthenay", 47.3597, 1.7411), ("Châteauroux", 46.8103, 1.6913),
    ("Bourges", 47.0810, 2.3988), ("Chartres", 48.4439, 1.4890), ("Troyes", 48.2973, 4.0744),
    ("Ajaccio", 41.9192, 8.7386), ("Bastia", 42.6973, 9.4509), ("Quimper", 47.9960, -4.1026),
    ("Vannes", 47.6582, -2.7608), ("Laval", 48.0707, -0.7734), ("Avignon", 43.9493, 4.8055),
    ("Valence", 44.9334, 4.8924), ("Annecy", 45.8992, 6.1294), ("Mulhouse", 47.7508, 7.3359),
    ("Bayonne", 43.4929, -1.4748), ("Agen", 44.2033, 0.6163), ("Rodez", 44.3506, 2.5750),
    ("Saint-Denis (La Réunion)", -20.8823, 55.4504), ("Cayenne", 4.9372, -52.3260),
    ("Fort-de-France", 14.6161, -61.0588),
]  # fmt: skip
ROME = [
    "K2204", "K2201", "K1302", "K1303", "K1304", "N1103", "N1105", "N4101", "N4105", "G1602", "G1603",
    "G1803", "H2102", "H2909", "H3302", "A1101", "A1203", "A1414", "F1603", "F1701", "F1703", "D1106",
    "D1507", "J1501", "M1607", "I1203", "I1304", "K2110", "N1101", "G1605",
]  # fmt: skip
SCHEDULES = ("night", "weekend", "early")


def territory(n_offers: int, n_candidates: int, seed: int) -> tuple[list[CandidateProfile], list[OfferProfile]]:
    rnd = random.Random(seed)

    def place() -> tuple[float, float]:
        _, lat, lon = rnd.choice(COMMUNES)
        return lat + rnd.gauss(0, 0.07), lon + rnd.gauss(0, 0.1)

    def an_id() -> uuid.UUID:
        return uuid.UUID(int=rnd.getrandbits(128), version=4)

    candidates = []
    for _ in range(n_candidates):
        lat, lon = place()
        candidates.append(
            CandidateProfile(
                id=an_id(),
                latitude=lat,
                longitude=lon,
                skills=tuple(rnd.sample(ROME, rnd.randint(0, 3))),
                wishes=tuple(rnd.sample(ROME, rnd.randint(0, 2))),
                max_travel_km=rnd.choice([None, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0]),
                weekly_hours_wanted=rnd.choice([None, 20.0, 24.0, 28.0, 35.0, 39.0]),
                schedule_exclusions=frozenset(s for s in SCHEDULES if rnd.random() < 0.25),
                driving_licence=rnd.random() < 0.6,
                consent_matching=rnd.random() < 0.9,
                active=rnd.random() < 0.85,
            )
        )
    offers = []
    for _ in range(n_offers):
        lat, lon = place()
        offers.append(
            OfferProfile(
                id=an_id(),
                latitude=lat,
                longitude=lon,
                rome_code=rnd.choice(ROME) if rnd.random() < 0.97 else None,
                weekly_hours=rnd.choice([None, 20.0, 24.0, 35.0, 35.0, 39.0]),
                requires_driving_licence=rnd.random() < 0.3,
                night=rnd.random() < 0.1,
                weekend=rnd.random() < 0.2,
                early=rnd.random() < 0.15,
                status=rnd.choices(["open", "filled", "closed"], weights=[85, 8, 7])[0],
            )
        )
    return candidates, offers


# ---------------------------------------------------------------------------------------------- (b) NumPy


class BruteForce:
    """Every row of the tenant in NumPy columns; each query evaluates them all."""

    def __init__(self, candidates: list[CandidateProfile], offers: list[OfferProfile], rules: RankingRules):
        self.rules = rules
        w = rules.weights
        self.w = (w.skills, w.proximity, w.hours)
        codes = {code: i + 1 for i, code in enumerate(sorted({*ROME}))}
        self.codes = codes
        self.prefix = {code: code[:3] for code in codes}

        def ids(rows):
            ints = [r.id.int for r in rows]
            return (
                np.array([i >> 64 for i in ints], dtype=np.uint64),
                np.array([i & 0xFFFFFFFFFFFFFFFF for i in ints], dtype=np.uint64),
            )

        def pad(rows_codes, width):
            out = np.zeros((len(rows_codes), width), dtype=np.int64)
            for i, cs in enumerate(rows_codes):
                out[i, : len(cs)] = [codes[c] for c in cs]
            return out

        c = candidates
        self.c_lat = np.radians(np.array([x.latitude for x in c]))
        self.c_lon = np.radians(np.array([x.longitude for x in c]))
        self.c_cos = np.cos(self.c_lat)
        default = rules.default_max_travel_km
        default = np.nan if default is None else default
        self.c_max = np.array([x.max_travel_km if x.max_travel_km is not None else default for x in c])
        self.c_ok = np.array([x.active and x.consent_matching for x in c]) & ~np.isnan(self.c_max)
        self.c_hours = np.array([np.nan if x.weekly_hours_wanted is None else x.weekly_hours_wanted for x in c])
        self.c_licence = np.array([x.driving_licence for x in c])
        self.c_excl = {s: np.array([s in x.schedule_exclusions for x in c]) for s in SCHEDULES}
        self.c_skills = pad([x.skills for x in c], 3)
        self.c_wishes = pad([x.wishes for x in c], 2)
        all_codes = np.concatenate([self.c_skills, self.c_wishes], axis=1)
        prefixes = {p: i + 1 for i, p in enumerate(sorted({code[:3] for code in codes}))}
        prefix_of = np.array([0] + [prefixes[code[:3]] for code in sorted(codes)], dtype=np.int64)
        letter_of = np.array([0] + [ord(code[0]) for code in sorted(codes)], dtype=np.int64)
        self.prefix_of, self.letter_of = prefix_of, letter_of
        present = all_codes > 0
        self.c_prefixes = np.where(present, prefix_of[all_codes], -1)
        self.c_letters = np.where(present, letter_of[all_codes], -1)
        self.c_hi, self.c_lo = ids(c)

        o = offers
        self.o_lat = np.radians(np.array([x.latitude for x in o]))
        self.o_lon = np.radians(np.array([x.longitude for x in o]))
        self.o_cos = np.cos(self.o_lat)
        self.o_open = np.array([x.status == "open" for x in o])
        self.o_hours = np.array([np.nan if x.weekly_hours is None else x.weekly_hours for x in o])
        self.o_licence = np.array([x.requires_driving_licence for x in o])
        self.o_sched = {s: np.array([getattr(x, s) for x in o]) for s in SCHEDULES}
        self.o_code = np.array([codes[x.rome_code] if x.rome_code else 0 for x in o], dtype=np.int64)
        self.o_hi, self.o_lo = ids(o)

    @staticmethod
    def distance(lat_c, cos_c, lon_c, lat_o, cos_o, lon_o):  # candidate first, offer second
        s_lat = np.sin((lat_o - lat_c) / 2.0)
        s_lon = np.sin((lon_o - lon_c) / 2.0)
        h = s_lat * s_lat + cos_c * cos_o * (s_lon * s_lon)
        return (2.0 * EARTH_RADIUS_KM) * np.arcsin(np.sqrt(np.minimum(h, 1.0)))

    @staticmethod
    def hours(wanted, offered):
        top = np.maximum(wanted, offered)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(top <= 0, 1.0, 1.0 - np.abs(wanted - offered) / top)
        return np.where(np.isnan(wanted) | np.isnan(offered), 0.5, value)

    @staticmethod
    def top(score, distance, hi, lo, k):
        n = score.shape[0]
        keep = np.flatnonzero(score >= np.partition(score, n - k)[n - k]) if n > k else np.arange(n)
        return keep[np.lexsort((lo[keep], hi[keep], distance[keep], -score[keep]))[:k]]

    def candidates_for(self, offer: OfferProfile, k: int) -> list[tuple]:
        lat = np.radians(offer.latitude)
        d = self.distance(self.c_lat, self.c_cos, self.c_lon, lat, np.cos(lat), np.radians(offer.longitude))
        ok = self.c_ok & (d <= self.c_max)
        if offer.requires_driving_licence:
            ok &= self.c_licence
        for s in SCHEDULES:
            if getattr(offer, s):
                ok &= ~self.c_excl[s]
        rows = np.flatnonzero(ok)
        x = self.codes.get(offer.rome_code or "", 0)
        if x:
            skills = np.where(
                (self.c_skills[rows] == x).any(1),
                1.0,
                np.where(
                    (self.c_wishes[rows] == x).any(1),
                    0.8,
                    np.where(
                        (self.c_prefixes[rows] == self.prefix_of[x]).any(1),
                        0.5,
                        np.where((self.c_letters[rows] == self.letter_of[x]).any(1), 0.25, 0.0),
                    ),
                ),
            )
        else:
            skills = np.zeros(rows.size)
        d, limit = d[rows], self.c_max[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            proximity = np.where(limit <= 0, 1.0, 1.0 - d / limit)
        hours = self.hours(self.c_hours[rows], np.float64(np.nan if offer.weekly_hours is None else offer.weekly_hours))
        score = self.w[0] * skills + self.w[1] * proximity + self.w[2] * hours
        best = self.top(score, d, self.c_hi[rows], self.c_lo[rows], k)
        return [(int(self.c_hi[rows[i]]), int(self.c_lo[rows[i]]), float(score[i]), float(d[i])) for i in best]

    def offers_for(self, candidate: CandidateProfile, k: int) -> list[tuple]:
        limit = candidate.max_travel_km if candidate.max_travel_km is not None else self.rules.default_max_travel_km
        if not (candidate.active and candidate.consent_matching) or limit is None:
            return []
        lat = np.radians(candidate.latitude)
        d = self.distance(lat, np.cos(lat), np.radians(candidate.longitude), self.o_lat, self.o_cos, self.o_lon)
        ok = self.o_open & (d <= limit)
        if not candidate.driving_licence:
            ok &= ~self.o_licence
        for s in candidate.schedule_exclusions:
            ok &= ~self.o_sched[s]
        rows = np.flatnonzero(ok)
        code = self.o_code[rows]
        own = [self.codes[c] for c in (*candidate.skills, *candidate.wishes)]
        skills = np.where(
            np.isin(code, [self.codes[c] for c in candidate.skills]),
            1.0,
            np.where(
                np.isin(code, [self.codes[c] for c in candidate.wishes]),
                0.8,
                np.where(
                    np.isin(self.prefix_of[code], self.prefix_of[own]) & (code > 0),
                    0.5,
                    np.where(np.isin(self.letter_of[code], self.letter_of[own]) & (code > 0), 0.25, 0.0),
                ),
            ),
        )
        d = d[rows]
        proximity = 1.0 - d / limit if limit > 0 else np.ones(rows.size)
        wanted = np.float64(np.nan if candidate.weekly_hours_wanted is None else candidate.weekly_hours_wanted)
        hours = self.hours(wanted, self.o_hours[rows])
        score = self.w[0] * skills + self.w[1] * proximity + self.w[2] * hours
        best = self.top(score, d, self.o_hi[rows], self.o_lo[rows], k)
        return [(int(self.o_hi[rows[i]]), int(self.o_lo[rows[i]]), float(score[i]), float(d[i])) for i in best]


def as_tuples(matches, by: str) -> list[tuple]:
    out = []
    for m in matches:
        key = (m.participant_id if by == "participant" else m.offer_id).int
        out.append((key >> 64, key & 0xFFFFFFFFFFFFFFFF, m.score, m.distance_km))
    return out


# ---------------------------------------------------------------------------------------------- (c) PostGIS

PG = os.environ.get("TREMPLIN_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")

CANDIDATES_SQL = """
WITH o AS (SELECT $1::geography AS g, $2::text AS code, $3::float8 AS hours, $4::bool AS licence,
                  $5::bool AS night, $6::bool AS weekend, $7::bool AS early),
near AS (
  SELECT c.*, ST_Distance(c.geog, o.g, false) / 1000.0 AS d, o.code, o.hours AS o_hours
  FROM bench_candidates c, o
  WHERE ST_DWithin(c.geog, o.g, $8 * 1000.0, false)
    AND (NOT o.licence OR c.licence) AND NOT (o.night AND c.x_night) AND NOT (o.weekend AND c.x_weekend)
    AND NOT (o.early AND c.x_early)
)
SELECT id, d, $9 * (CASE WHEN code IS NULL THEN 0
                         WHEN code = ANY(skills) THEN 1.0 WHEN code = ANY(wishes) THEN 0.8
                         WHEN left(code, 3) = ANY(prefixes) THEN 0.5 WHEN left(code, 1) = ANY(letters) THEN 0.25
                         ELSE 0 END)
            + $10 * (CASE WHEN max_km <= 0 THEN 1.0 ELSE 1.0 - d / max_km END)
            + $11 * (CASE WHEN hours IS NULL OR o_hours IS NULL THEN 0.5
                          WHEN greatest(hours, o_hours) <= 0 THEN 1.0
                          ELSE 1.0 - abs(hours - o_hours) / greatest(hours, o_hours) END) AS score
FROM near WHERE d <= max_km
ORDER BY score DESC, d, id LIMIT $12
"""

OFFERS_SQL = """
WITH near AS (
  SELECT o.*, ST_Distance(o.geog, $1::geography, false) / 1000.0 AS d
  FROM bench_offers o
  WHERE ST_DWithin(o.geog, $1::geography, $2 * 1000.0, false)
    AND (NOT o.licence OR $3::bool) AND NOT (o.night AND $4::bool) AND NOT (o.weekend AND $5::bool)
    AND NOT (o.early AND $6::bool)
)
SELECT id, d, $11 * (CASE WHEN code IS NULL THEN 0
                          WHEN code = ANY($7::text[]) THEN 1.0 WHEN code = ANY($8::text[]) THEN 0.8
                          WHEN left(code, 3) = ANY($9::text[]) THEN 0.5 WHEN left(code, 1) = ANY($10::text[]) THEN 0.25
                          ELSE 0 END)
            + $12 * (CASE WHEN $2 <= 0 THEN 1.0 ELSE 1.0 - d / $2 END)
            + $13 * (CASE WHEN $14::float8 IS NULL OR hours IS NULL THEN 0.5
                          WHEN greatest($14::float8, hours) <= 0 THEN 1.0
                          ELSE 1.0 - abs($14::float8 - hours) / greatest($14::float8, hours) END) AS score
FROM near WHERE d <= $2
ORDER BY score DESC, d, id LIMIT $15
"""


def ensure_postgis() -> str | None:
    """None when PostGIS can be used, else why not."""
    if any(os.path.exists(f"/usr/share/postgresql/{v}/extension/postgis.control") for v in ("15", "16", "17")):
        return None
    if shutil.which("apt-get") is None:
        return "PostGIS is not installed and apt-get is not available"
    console.print("installing PostGIS: apt-get update && apt-get install -y postgresql-15-postgis-3 …")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql-15-postgis-3"]):
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            return f"`{' '.join(cmd)}` failed: {(done.stderr or done.stdout).strip()[-400:]}"
    return None


async def postgis_setup(candidates, offers, default_max):
    import asyncpg

    admin = await asyncpg.connect(PG + "/postgres")
    name = f"bench_matching_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    conn = await asyncpg.connect(f"{PG}/{name}")
    await conn.execute("CREATE EXTENSION postgis")
    await conn.execute(
        """CREATE TABLE bench_candidates (id uuid PRIMARY KEY, geog geography(Point, 4326) NOT NULL,
             max_km float8 NOT NULL, hours float8, licence bool NOT NULL, x_night bool NOT NULL,
             x_weekend bool NOT NULL, x_early bool NOT NULL, skills text[] NOT NULL, wishes text[] NOT NULL,
             prefixes text[] NOT NULL, letters text[] NOT NULL)"""
    )
    await conn.execute(
        """CREATE TABLE bench_offers (id uuid PRIMARY KEY, geog geography(Point, 4326) NOT NULL, code text,
             hours float8, licence bool NOT NULL, night bool NOT NULL, weekend bool NOT NULL, early bool NOT NULL)"""
    )
    # Only the rows that can match at all, as the index holds (active, consenting; open offers).
    rows = []
    for c in candidates:
        limit = c.max_travel_km if c.max_travel_km is not None else default_max
        if not (c.active and c.consent_matching) or limit is None:
            continue
        codes = (*c.skills, *c.wishes)
        rows.append(
            (c.id, c.longitude, c.latitude, limit, c.weekly_hours_wanted, c.driving_licence,
             "night" in c.schedule_exclusions, "weekend" in c.schedule_exclusions, "early" in c.schedule_exclusions,
             list(c.skills), list(c.wishes), sorted({x[:3] for x in codes}), sorted({x[:1] for x in codes}))
        )  # fmt: skip
    await conn.executemany(
        """INSERT INTO bench_candidates VALUES ($1, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography,
             $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)""",
        rows,
    )
    await conn.executemany(
        """INSERT INTO bench_offers VALUES ($1, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography,
             $4, $5, $6, $7, $8, $9)""",
        [
            (o.id, o.longitude, o.latitude, o.rome_code, o.weekly_hours, o.requires_driving_licence,
             o.night, o.weekend, o.early)
            for o in offers
            if o.status == "open"
        ],
    )  # fmt: skip
    await conn.execute("CREATE INDEX ON bench_candidates USING gist (geog)")
    await conn.execute("CREATE INDEX ON bench_offers USING gist (geog)")
    await conn.execute("ANALYZE")
    return conn, name


async def postgis_drop(conn, name: str) -> None:
    import asyncpg

    await conn.close()
    admin = await asyncpg.connect(PG + "/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await admin.close()


def point(lat: float, lon: float) -> str:
    return f"SRID=4326;POINT({lon!r} {lat!r})"


async def postgis_queries(conn, offers_q, candidates_q, rules: RankingRules, max_reach: float, k: int):
    w = rules.weights
    cand_stmt = await conn.prepare(CANDIDATES_SQL)
    offer_stmt = await conn.prepare(OFFERS_SQL)
    times_c, times_o, results_c, results_o = [], [], [], []
    for o in offers_q:
        args = (point(o.latitude, o.longitude), o.rome_code, o.weekly_hours, o.requires_driving_licence,
                o.night, o.weekend, o.early, max_reach, w.skills, w.proximity, w.hours, k)  # fmt: skip
        t = time.perf_counter()
        rows = await cand_stmt.fetch(*args)
        times_c.append(time.perf_counter() - t)
        results_c.append([r["id"] for r in rows])
    for c in candidates_q:
        limit = c.max_travel_km if c.max_travel_km is not None else rules.default_max_travel_km
        codes = (*c.skills, *c.wishes)
        args = (point(c.latitude, c.longitude), limit, c.driving_licence, "night" in c.schedule_exclusions,
                "weekend" in c.schedule_exclusions, "early" in c.schedule_exclusions, list(c.skills), list(c.wishes),
                sorted({x[:3] for x in codes}), sorted({x[:1] for x in codes}), w.skills, w.proximity, w.hours,
                c.weekly_hours_wanted, k)  # fmt: skip
        t = time.perf_counter()
        rows = await offer_stmt.fetch(*args)
        times_o.append(time.perf_counter() - t)
        results_o.append([r["id"] for r in rows])
    return times_c, times_o, results_c, results_o


# ---------------------------------------------------------------------------------------------- run


def interleaved(first, second, items):
    """Each item through `first` then `second`: their latencies and results."""
    times_1, results_1, times_2, results_2 = [], [], [], []
    for item in items:
        t = time.perf_counter()
        results_1.append(first(item))
        times_1.append(time.perf_counter() - t)
        t = time.perf_counter()
        results_2.append(second(item))
        times_2.append(time.perf_counter() - t)
    return times_1, results_1, times_2, results_2


def pct(times: list[float]) -> tuple[float, float]:
    a = np.array(times) * 1000.0
    return float(np.percentile(a, 50)), float(np.percentile(a, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--offers", type=int, default=100_000)
    parser.add_argument("--candidates", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=300, help="queries per direction")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--seed", type=int, default=41)
    parser.add_argument("--no-postgis", action="store_true")
    args = parser.parse_args()

    rules = RankingRules()
    t = time.perf_counter()
    candidates, offers = territory(args.offers, args.candidates, args.seed)
    console.print(
        f"territory: {len(COMMUNES)} communes, {len(offers)} offers, {len(candidates)} candidates "
        f"({time.perf_counter() - t:.1f} s)"
    )

    t = time.perf_counter()
    index = SpatialIndex(rules)
    for c in candidates:
        index.upsert_candidate(TENANT, c)
    for o in offers:
        index.upsert_offer(TENANT, o)
    index.pack()
    n_c, n_o = index.size(TENANT)
    console.print(f"(a) index built: {n_c} matchable candidates, {n_o} open offers ({time.perf_counter() - t:.1f} s)")
    t = time.perf_counter()
    brute = BruteForce(candidates, offers, rules)
    console.print(f"(b) NumPy columns built ({time.perf_counter() - t:.1f} s)")

    rnd = random.Random(args.seed + 1)
    open_offers = [o for o in offers if o.status == "open"]
    matchable = [c for c in candidates if c.active and c.consent_matching]
    offers_q = rnd.sample(open_offers, min(args.queries, len(open_offers)))
    candidates_q = rnd.sample(matchable, min(args.queries, len(matchable)))

    # Warm-up (cell blocks are packed lazily on first use), then the measured runs.
    for o in offers_q[:50]:
        index.candidates_for(TENANT, o, args.k)
        brute.candidates_for(o, args.k)
    for c in candidates_q[:50]:
        index.offers_for(TENANT, c, args.k)
        brute.offers_for(c, args.k)
    # (a) and (b) alternate query by query, so that machine noise falls on both alike; the garbage
    # collector is paused while timing (as timeit does).
    gc.collect()
    gc.disable()
    try:
        a_c, a_c_res, b_c, b_c_res = interleaved(
            lambda o: index.candidates_for(TENANT, o, args.k), lambda o: brute.candidates_for(o, args.k), offers_q
        )
        a_o, a_o_res, b_o, b_o_res = interleaved(
            lambda c: index.offers_for(TENANT, c, args.k), lambda c: brute.offers_for(c, args.k), candidates_q
        )
    finally:
        gc.enable()

    mismatches = sum(as_tuples(a, "participant") != b for a, b in zip(a_c_res, b_c_res, strict=True))
    mismatches += sum(as_tuples(a, "offer") != b for a, b in zip(a_o_res, b_o_res, strict=True))
    sizes = [len(r) for r in a_c_res + a_o_res]
    console.print(
        f"(a) = (b) exactly (ids, order, scores, distances) for {len(sizes) - mismatches}/{len(sizes)} queries; "
        f"results per query: min {min(sizes)}, mean {sum(sizes) / len(sizes):.1f}"
    )

    c_c = c_o = None
    skipped = None
    overlap = None
    skipped = "--no-postgis" if args.no_postgis else ensure_postgis()
    if skipped is None:
        try:

            async def run_postgis():
                conn, name = await postgis_setup(candidates, offers, rules.default_max_travel_km)
                try:
                    max_reach = max(c.max_travel_km or rules.default_max_travel_km or 0.0 for c in candidates)
                    await postgis_queries(conn, offers_q[:20], candidates_q[:20], rules, max_reach, args.k)  # warm
                    return await postgis_queries(conn, offers_q, candidates_q, rules, max_reach, args.k)
                finally:
                    await postgis_drop(conn, name)

            t = time.perf_counter()
            c_c, c_o, c_c_res, c_o_res = asyncio.run(run_postgis())
            console.print(f"(c) PostGIS loaded and queried ({time.perf_counter() - t:.1f} s)")
            pairs = [({m.participant_id for m in a}, set(c)) for a, c in zip(a_c_res, c_c_res, strict=True)]
            pairs += [({m.offer_id for m in a}, set(c)) for a, c in zip(a_o_res, c_o_res, strict=True)]
            total = sum(len(a) for a, _ in pairs)
            overlap = sum(len(a & c) for a, c in pairs) / total if total else 1.0
        except Exception as exc:  # the run goes on without (c), saying why
            skipped = f"{type(exc).__name__}: {exc}"

    table = Table(title=f"top-{args.k} ranking latency, ms ({args.queries} queries per direction)")
    for col in ("direction", "(a) index p50", "p95", "(b) numpy p50", "p95", "(b)/(a) p50", "p95"):
        table.add_column(col, justify="right")
    if c_c is not None:
        for col in ("(c) postgis p50", "p95", "(c)/(a) p50", "p95"):
            table.add_column(col, justify="right")
    for label, a, b, c in (("offer → candidates", a_c, b_c, c_c), ("candidate → offers", a_o, b_o, c_o)):
        (a50, a95), (b50, b95) = pct(a), pct(b)
        cells = [
            label,
            f"{a50:.3f}",
            f"{a95:.3f}",
            f"{b50:.3f}",
            f"{b95:.3f}",
            f"{b50 / a50:.1f}×",
            f"{b95 / a95:.1f}×",
        ]
        if c is not None:
            c50, c95 = pct(c)
            cells += [f"{c50:.3f}", f"{c95:.3f}", f"{c50 / a50:.1f}×", f"{c95 / a95:.1f}×"]
        table.add_row(*cells)
    console.print(table)
    if skipped:
        console.print(f"(c) PostGIS skipped: {skipped}")
    elif overlap is not None:
        console.print(f"(c) shares {overlap:.1%} of (a)'s top-{args.k} ids (its sphere differs slightly: timing only)")
    console.print("identical results (a) = (b): " + ("yes" if mismatches == 0 else f"NO, {mismatches} queries differ"))
    if mismatches:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
