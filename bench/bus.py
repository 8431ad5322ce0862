"""Event path benchmark: raw aiokafka against outbox → relay → Kafka → consumer → projection.

    .venv/bin/python -m bench.bus [--events 20000] [--db postgres|sqlite] [--writer api|import] [--stages]

One run, one broker of its own (Tansu, memory storage, free port), fresh databases dropped at the end.

(a) raw: N records shaped exactly like `participant.registered.v1` events (same CloudEvents headers,
    same JSON value, key = participant id) produced to a fresh topic with `make_producer`'s settings,
    then read back by a consumer group (joined beforehand, fetching paused while producing).
    events/s = N / (produce time + consume time), the median of --raw-rounds rounds.
(b) full: the participants side (this process) writes participants, each with its events in the
    outbox in the same transaction, while the real `OutboxRelay` publishes; the matching side (a
    subprocess) runs the real `EventConsumer` with the real projection `HANDLERS`. Each side is its
    service's app lifespan (engine, relay, consumer, background jobs, as in production; no HTTP
    server). Timed from the first write to the database commit of the last projection (the
    consumer's `after_db_commit` seam stamps each committed batch).
    Latency per event: outbox `created_at` → its projection committed.
    --writer api (default): N participants, each `repository.add` + `outbox.add_event(registered)`,
      --tx-size of them per transaction (1 = one registration per request), --writers at once.
    --writer import: the CSV import's write path (`importer.write_participants`: executemany of the
      participants and of their registered + profile_changed events), N/2 participants, --tx-size
      participants per transaction.
(c) with --stages: the same on fresh databases and a fresh broker, one stage at a time (write
    everything, then relay everything, then consume everything), to see what each stage does alone.

Set PYTHONPATH to a private copy of `tremplin_shared` to measure a candidate change to it; both
processes pick it up, and the path in use is printed.
"""

import argparse
import asyncio
import contextlib
import cProfile
import json
import logging
import math
import os
import pstats
import random
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select, text

import tremplin_shared
from tremplin_shared.db import make_engine, make_sessionmaker
from tremplin_shared.embedded_broker import EmbeddedBroker, free_port
from tremplin_shared.events import new_event
from tremplin_shared.identity import Identity
from tremplin_shared.log import new_request_id, request_id_var
from tremplin_shared.messaging.consumer import MAX_RECORDS
from tremplin_shared.messaging.kafka import ensure_topics, make_producer
from tremplin_shared.messaging.tables import inbox, outbox

from .databases import fresh_databases

TENANTS = ["loir-et-cher", "cher", "indre", "nievre", "haute-vienne", "creuse"]
FIRST_NAMES = ["Camille", "Dominique", "Sacha", "Lou", "Yanis", "Inès", "Mathis", "Léa", "Nour", "Hugo"]
LAST_NAMES = ["Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau"]
CONSUMER_LOGGER = "tremplin_shared.messaging.consumer"
SOURCE = "/tremplin/participants"  # the participants service's `ServiceSpec.source`

console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)


# ---------------------------------------------------------------------------------------------- data


def participant_fields(rng: random.Random) -> dict:
    """What a départemental platform sends for one participant (the required fields of the API)."""
    return {
        "first_name": rng.choice(FIRST_NAMES),
        "last_name": rng.choice(LAST_NAMES),
        "birth_date": date(1960, 1, 1) + timedelta(days=rng.randrange(16_000)),
        "sex": rng.choice("FM"),
        "latitude": round(rng.uniform(42.5, 50.9), 6),
        "longitude": round(rng.uniform(-4.5, 7.9), 6),
        "skills": [f"{rng.choice('ABCDEFGHIJKLMN')}{rng.randrange(10_000):04d}" for _ in range(rng.randint(1, 5))],
    }


def identity_for(index: int) -> Identity:
    return Identity(tenant=TENANTS[index % len(TENANTS)], subject="bench-platform", roles=("referent",))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def proc_cpu_seconds(match) -> float | None:
    """CPU seconds used so far by the processes whose `comm` name matches, their reaped children included
    (a PostgreSQL backend that exited is counted in the postmaster's) (Linux /proc; None elsewhere)."""
    total, ticks = 0.0, os.sysconf("SC_CLK_TCK")
    try:
        pids = [pid for pid in os.listdir("/proc") if pid.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # gone meanwhile, or not ours to read
        comm, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        if match(comm):  # utime + stime, and cutime + cstime: what its exited children used (gone backends)
            total += sum(int(f) for f in fields[11:15]) / ticks
    return total


def server_cpu() -> dict[str, float | None]:
    """PostgreSQL (all its processes, if local) and the broker: their CPU, for a share per event."""
    return {
        "postgres": proc_cpu_seconds(lambda comm: comm.startswith("postgres")),
        "broker": proc_cpu_seconds(lambda comm: comm.startswith("tansu")),
    }


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))]


# ------------------------------------------------------------------------------------ (a) raw baseline


@dataclass
class RawResult:
    produce_s: float
    consume_s: float
    join_s: float
    value_bytes: int
    header_bytes: int
    round_rates: list[float]


class _Assigned(ConsumerRebalanceListener):
    def __init__(self) -> None:
        self.event = asyncio.Event()

    async def on_partitions_revoked(self, revoked) -> None:
        pass

    async def on_partitions_assigned(self, assigned) -> None:
        if assigned:
            self.event.set()


async def raw_baseline(bootstrap: str, n: int, partitions: int, rng: random.Random, rounds: int) -> RawResult:
    from tremplin_participants.domain.participant import Participant

    records = []
    for i in range(n):
        identity = identity_for(i)
        participant = Participant(tenant=identity.tenant, **participant_fields(rng))
        token = request_id_var.set(new_request_id())
        event = new_event(participant.registered_event(), tenant=identity.tenant, source=SOURCE)
        request_id_var.reset(token)
        records.append((event.subject.encode(), event.value(), event.headers()))
    value_bytes = sum(len(v) for _, v, _ in records) // n
    header_bytes = sum(len(k) + len(v) for _, _, hs in records for k, v in hs) // n

    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [topic], partitions)
    producer = make_producer(bootstrap)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=MAX_RECORDS,  # as EventConsumer fetches
    )
    await producer.start()
    await consumer.start()
    try:
        await producer.partitions_for(topic)  # metadata loaded, as in a warm relay
        listener = _Assigned()
        started = time.perf_counter()
        consumer.subscribe([topic], listener=listener)
        await asyncio.wait_for(listener.event.wait(), 60)
        join_s = time.perf_counter() - started
        assigned = list(consumer.assignment())
        timings = []
        for _ in range(rounds):  # the group stays joined; fetching is paused while producing
            consumer.pause(*assigned)
            started = time.perf_counter()
            futures = [await producer.send(topic, value=v, key=k, headers=h) for k, v, h in records]
            await asyncio.gather(*futures)
            produce_s = time.perf_counter() - started
            consumer.resume(*assigned)
            started = time.perf_counter()
            received = 0
            while received < n:
                batches = await consumer.getmany(timeout_ms=200, max_records=MAX_RECORDS)
                if batches:
                    received += sum(len(batch) for batch in batches.values())
                    await consumer.commit({tp: batch[-1].offset + 1 for tp, batch in batches.items()})
            timings.append((produce_s, time.perf_counter() - started))
    finally:
        await consumer.stop()
        await producer.stop()
    timings.sort(key=sum)
    produce_s, consume_s = timings[len(timings) // 2]
    return RawResult(produce_s, consume_s, join_s, value_bytes, header_bytes, [n / sum(t) for t in timings])


# -------------------------------------------------------------------- (b) full path: matching side


class _ConsumerLog(logging.Handler):
    """Watches the consumer's own log lines: partition assignment, and batches that fell back to one by one."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.assigned = asyncio.Event()
        self.fallbacks = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message == "partitions assigned" and getattr(record, "fields", {}).get("partitions"):
            self.assigned.set()
        elif message.startswith("batch failed"):
            self.fallbacks += 1


def _event_id(record) -> str:
    return next((v.decode() for k, v in record.headers or () if k == "ce_id"), f"{record.partition}:{record.offset}")


async def consumer_child(config: dict) -> None:
    """The matching service as it runs (its app's lifespan: migrations, relay, consumer, indexes, background
    tasks; no HTTP server), until the expected events are applied.

    Told how many events to expect by a line `expect <count>` on stdin (sent once they are written).
    """
    from tremplin_matching.config import Settings
    from tremplin_matching.main import create_app

    watcher = _ConsumerLog()
    consumer_log = logging.getLogger(CONSUMER_LOGGER)
    consumer_log.setLevel(logging.INFO)
    consumer_log.propagate = False  # its INFO lines are for the watcher; warnings still reach stderr
    consumer_log.addHandler(watcher)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.WARNING)
    consumer_log.addHandler(stderr)

    settings = Settings(
        database_url=config["url"],
        kafka_bootstrap_servers=config["bootstrap"],
        kafka_partitions=config["partitions"],
        log_level="WARNING",
    )
    app = create_app(settings)
    commits: list[tuple[float, list]] = []  # (when, the records): their event ids are read after the run
    applied = 0
    expected = math.inf
    done = asyncio.Event()

    async def committed(records) -> None:  # the consumer's seam, called right after the database commit
        nonlocal applied
        commits.append((time.time(), records))
        applied += len(records)  # a redelivery would count twice and end early: the checks would fail
        if applied >= expected:
            done.set()

    async def read_expected() -> None:
        nonlocal expected
        line = await asyncio.to_thread(sys.stdin.readline)
        expected = int(line.split()[1])
        if applied >= expected:
            done.set()

    profiler = cProfile.Profile() if config.get("profile") else None
    assigned_at = cpu = float("nan")
    reader = asyncio.create_task(read_expected())
    try:
        async with app.router.lifespan_context(app):
            app.state.consumer.after_db_commit = committed
            await asyncio.wait_for(watcher.assigned.wait(), 60)
            assigned_at = time.time()
            print("ready", flush=True)
            cpu_started = cpu_seconds()
            if profiler:
                profiler.enable()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), config["timeout"])
            cpu = cpu_seconds() - cpu_started
            if profiler:
                profiler.disable()
                profiler.dump_stats(config["profile"])
    finally:
        reader.cancel()
    report = {
        "commits": [(stamp, [_event_id(r) for r in records]) for stamp, records in commits],
        "fallbacks": watcher.fallbacks,
        "assigned_at": assigned_at,
        "cpu": cpu,
    }
    await asyncio.to_thread(Path(config["result"]).write_text, json.dumps(report))


class ConsumerProcess:
    """The matching side as a subprocess of this one."""

    def __init__(self, args, bootstrap: str, url: str, result_file: Path, profile_name: str) -> None:
        self.config = {
            "url": url,
            "bootstrap": bootstrap,
            "partitions": args.partitions,
            "timeout": args.timeout,
            "result": str(result_file),
            "profile": f"{args.profile}/{profile_name}.pstats" if args.profile else None,
        }
        self.loop = args.loop
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Returns once its consumer owns the partitions."""
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.bus", "--loop", self.loop, "--child-consumer", json.dumps(self.config),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        line = await asyncio.wait_for(self.process.stdout.readline(), 90)
        if line.strip() != b"ready":
            raise RuntimeError("the consumer subprocess did not start (see its errors above)")

    async def expect(self, count: int) -> None:
        self.process.stdin.write(f"expect {count}\n".encode())
        await self.process.stdin.drain()

    async def finish(self, timeout: float) -> dict:
        await asyncio.wait_for(self.process.wait(), timeout)
        return json.loads(await asyncio.to_thread(Path(self.config["result"]).read_text))

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


# ------------------------------------------------------------------ (b) full path: participants side


@dataclass
class FullResult:
    events: int
    participants: int
    write_s: float
    relay_s: float
    total_s: float
    consume_s: float
    latencies_ms: list[float]
    applied: int
    candidates: int
    inbox_rows: int
    pending: int
    fallbacks: int
    batches: int
    producer_cpu_s: float  # this process (writers + relay) during (b)
    consumer_cpu_s: float  # the consumer process while it consumed
    server_cpu_s: dict[str, float | None]  # PostgreSQL and the broker during (b)
    stage_cpu_s: dict[str, dict[str, float | None]]  # staged only: per stage, its process, PostgreSQL, broker


async def write_api(sessionmaker, relay, items: list[dict], tx_size: int, writers: int) -> None:
    """API-like writers: each transaction does, per participant, what registration does at its core.

    `repository.add`, then `outbox.add_event(participant.registered_event())`: the state change and its
    event commit together (transactional outbox). The service layer's registration also checks the
    NIR, writes the access log and a profile event; that is the participants service's own cost.
    """
    from tremplin_participants.adapters import repository
    from tremplin_participants.domain.participant import Participant
    from tremplin_shared.messaging import outbox as outbox_module

    chunks = deque((i, items[i : i + tx_size]) for i in range(0, len(items), tx_size))

    async def writer() -> None:
        while chunks:
            index, chunk = chunks.popleft()
            identity = identity_for(index)
            token = request_id_var.set(new_request_id())  # what the request id middleware does
            try:
                async with sessionmaker() as session, session.begin():
                    for fields in chunk:
                        participant = Participant(tenant=identity.tenant, **fields)
                        await repository.add(session, participant)
                        await outbox_module.add_event(
                            session, participant.registered_event(), tenant=identity.tenant, source=SOURCE
                        )
            finally:
                request_id_var.reset(token)

    await asyncio.gather(*(writer() for _ in range(writers)))


async def write_import(sessionmaker, relay, items: list[dict], tx_size: int, writers: int) -> None:
    """The CSV import's write path, `tx_size` participants per transaction."""
    from tremplin_participants import importer
    from tremplin_participants.domain.participant import Participant

    chunks = deque((i, items[i : i + tx_size]) for i in range(0, len(items), tx_size))

    async def writer() -> None:
        while chunks:
            index, chunk = chunks.popleft()
            tenant = identity_for(index).tenant
            async with sessionmaker() as session, session.begin():
                participants = [Participant(tenant=tenant, **fields) for fields in chunk]
                await importer.write_participants(session, participants)

    await asyncio.gather(*(writer() for _ in range(writers)))


async def wait_published(relay, n: int) -> float:
    while relay.published_total < n:
        await asyncio.sleep(0.005)
    return time.time()


async def count_rows(sessionmaker, stmt) -> int:
    async with sessionmaker() as session:
        return (await session.execute(stmt)).scalar()


async def relay_ready(relay, timeout: float = 15.0) -> None:
    """The relay connects its producer on its first pass; the writes start once it is connected."""
    deadline = time.monotonic() + timeout
    while getattr(relay, "_producer", None) is None and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


async def full_path(args, bootstrap: str, urls: dict[str, str], items: list[dict], workdir: Path, staged: bool):
    """(b). Pipelined: everything at once, as in production. Staged: one stage after the other.

    The participants side is the participants app's lifespan (migrations, engine, relay, its own
    consumer and background jobs; no HTTP server), in this process.
    """
    from tremplin_participants.config import Settings
    from tremplin_participants.main import create_app

    name = "staged" if staged else "full"
    settings = Settings(
        database_url=urls["participants"],
        kafka_bootstrap_servers=bootstrap,
        kafka_partitions=args.partitions,
        log_level="WARNING",
        run_background_workers=not staged,  # staged: the relay is started by hand after the writes
    )
    app = create_app(settings)
    child = ConsumerProcess(args, bootstrap, urls["matching"], workdir / f"consumer-{name}.json", f"consumer-{name}")
    write = write_api if args.writer == "api" else write_import
    profiler = cProfile.Profile() if args.profile else None
    try:
        if not staged:
            await child.start()
        async with app.router.lifespan_context(app):
            sessionmaker, relay = app.state.sessionmaker, app.state.relay
            relay_task = None
            if not staged:
                await relay_ready(relay)
            if profiler:
                profiler.enable()
            cpu_started, servers_started = cpu_seconds(), server_cpu()
            marks = [(cpu_seconds(), server_cpu())]  # staged: CPU at each stage's end
            started = time.time()
            await write(sessionmaker, relay, items, args.tx_size, args.writers)
            write_s = time.time() - started
            marks.append((cpu_seconds(), server_cpu()))
            events = await count_rows(sessionmaker, select(func.count()).select_from(outbox))
            if not staged:
                await child.expect(events)
            relay_started = time.time()
            if staged:
                relay_task = asyncio.create_task(relay.run())
            try:
                relay_at = await asyncio.wait_for(wait_published(relay, events), args.timeout)
            finally:
                if relay_task is not None:
                    relay_task.cancel()
                    await asyncio.gather(relay_task, return_exceptions=True)
            if staged:
                marks.append((cpu_seconds(), server_cpu()))
                await child.start()
                await child.expect(events)
            report = await child.finish(args.timeout + 30)
            marks.append((cpu_seconds(), server_cpu()))
            producer_cpu_s = cpu_seconds() - cpu_started
            servers = {
                k: (v - servers_started[k] if v is not None and servers_started[k] is not None else None)
                for k, v in server_cpu().items()
            }
            if profiler:
                profiler.disable()
                profiler.dump_stats(Path(args.profile) / f"participants-{name}.pstats")
            async with sessionmaker() as session:
                created = (await session.execute(select(outbox.c.event_id, outbox.c.created_at))).all()
            pending = await count_rows(sessionmaker, select(func.count()).where(outbox.c.published_at.is_(None)))
    finally:
        await child.kill()

    committed_at: dict[str, float] = {}
    for stamp, ids in report["commits"]:
        for event_id in ids:
            committed_at.setdefault(event_id, stamp)
    latencies = sorted((committed_at[i] - at.timestamp()) * 1000 for i, at in created if i in committed_at)
    matching_engine = make_engine(urls["matching"])
    matching = make_sessionmaker(matching_engine)
    candidates_count = await count_rows(matching, text("SELECT count(*) FROM candidates"))
    inbox_rows = await count_rows(
        matching, select(func.count()).select_from(inbox).where(inbox.c.consumer == "matching")
    )
    await matching_engine.dispose()
    last = max((stamp for stamp, _ in report["commits"]), default=float("nan"))
    return FullResult(
        events=events,
        participants=len(items),
        write_s=write_s,
        relay_s=relay_at - (relay_started if staged else started),
        total_s=last - started,
        consume_s=last - report["assigned_at"] if staged else float("nan"),
        latencies_ms=latencies,
        applied=len(committed_at),
        candidates=candidates_count,
        inbox_rows=inbox_rows,
        pending=pending,
        fallbacks=report["fallbacks"],
        batches=len(report["commits"]),
        producer_cpu_s=producer_cpu_s,
        consumer_cpu_s=report["cpu"],
        server_cpu_s=servers,
        stage_cpu_s=stage_cpu(marks, report["cpu"]) if staged else {},
    )


def stage_cpu(marks, consumer_cpu_s: float) -> dict[str, dict[str, float | None]]:
    """CPU seconds of each stage (write, relay, consume): the process doing it, PostgreSQL, the broker."""
    out = {}
    for stage, ((cpu0, servers0), (cpu1, servers1)) in zip(("write", "relay", "consume"), pairwise(marks), strict=True):
        out[stage] = {
            "process": consumer_cpu_s if stage == "consume" else cpu1 - cpu0,
            **{k: v - servers0[k] if v is not None and servers0[k] is not None else None for k, v in servers1.items()},
        }
    return out


# ------------------------------------------------------------------------------------------ databases


def databases(kind: str, workdir: Path):
    """Fresh participants and matching databases at the head of their migrations; dropped after."""
    import tremplin_matching
    import tremplin_participants

    return fresh_databases(
        kind, workdir, {"participants": tremplin_participants, "matching": tremplin_matching}, prefix="bench"
    )


# --------------------------------------------------------------------------------------------- report


def print_report(args, raw: RawResult, full: FullResult, staged: FullResult | None) -> bool:
    n = args.events
    raw_rate = n / (raw.produce_s + raw.consume_s)
    full_rate = full.events / full.total_s
    ratio = full_rate / raw_rate
    lat = full.latencies_ms
    p50, p90, p99 = percentile(lat, 0.5), percentile(lat, 0.9), percentile(lat, 0.99)
    writes = (
        f"{args.tx_size} participant(s) + event(s)/transaction, {args.writers} writer(s)"
        if args.writer == "api"
        else f"CSV import path, {args.tx_size} participants/transaction, {args.writers} writer(s)"
    )

    table = Table(title=f"bench-bus — {args.db}, {args.partitions} partitions, {args.loop} loop, writer {args.writer}")
    table.add_column("phase")
    table.add_column("time (s)", justify="right")
    table.add_column("events/s", justify="right")
    table.add_column("notes")
    rounds = ", ".join(f"{rate:,.0f}" for rate in raw.round_rates)
    table.add_row("(a) raw produce", f"{raw.produce_s:.3f}", f"{n / raw.produce_s:,.0f}", f"{n} records")
    table.add_row("(a) raw consume", f"{raw.consume_s:.3f}", f"{n / raw.consume_s:,.0f}", "consumer group")
    table.add_row(
        "(a) raw", f"{raw.produce_s + raw.consume_s:.3f}", f"[bold]{raw_rate:,.0f}[/]", f"median of rounds {rounds}"
    )
    table.add_section()
    events_note = f"{full.events} events of {full.participants} participants"
    table.add_row("(b) write phase", f"{full.write_s:.3f}", f"{full.events / full.write_s:,.0f}", writes)
    table.add_row("(b) relay has published all", f"{full.relay_s:.3f}", "", "since the first write")
    table.add_row(
        "(b) full: last projection committed",
        f"{full.total_s:.3f}",
        f"[bold]{full_rate:,.0f}[/]",
        f"{events_note}; {full.batches} consumer batches",
    )
    per_event = {
        "participants process (writers + relay)": full.producer_cpu_s,
        "matching process (consumer)": full.consumer_cpu_s,
        **{f"{k} (whole server)": v for k, v in full.server_cpu_s.items()},
    }
    if staged is not None:
        table.add_section()
        for label, stage, seconds, note in (
            ("(c) write alone", "write", staged.write_s, "relay stopped"),
            ("(c) relay alone", "relay", staged.relay_s, f"drains {staged.events} pending rows"),
            ("(c) consumer alone", "consume", staged.consume_s, f"drains {staged.events} records"),
        ):
            cpu = ", ".join(
                f"{k} {v / staged.events * 1e6:,.0f}" for k, v in staged.stage_cpu_s[stage].items() if v is not None
            )
            table.add_row(label, f"{seconds:.3f}", f"{staged.events / seconds:,.0f}", f"{note}; CPU µs/event: {cpu}")
    table.add_section()
    table.add_row("ratio (b)/(a)", "", f"[bold]{ratio:.3f}[/]", "target ≥ 0.5")
    table.add_row(
        "latency p50 / p90 / p99 / max",
        "",
        "",
        f"{p50:.0f} / {p90:.0f} / {p99:.0f} / {lat[-1] if lat else math.nan:.0f} ms (outbox row → projection)",
    )
    console.print(table)
    console.print(
        "(b) CPU per event: "
        + ", ".join(f"{k} {v / full.events * 1e6:,.0f} µs" for k, v in per_event.items() if v is not None),
        soft_wrap=True,
    )
    if None not in per_event.values():  # what the CPUs allow: every core busy all along, nothing waiting
        cpu_per_event = sum(per_event.values()) / full.events
        ceiling = (os.cpu_count() or 1) / cpu_per_event
        console.print(
            f"(b) CPU-bound ceiling: {cpu_per_event * 1e6:,.0f} µs of CPU per event on {os.cpu_count()} CPUs → at most "
            f"{ceiling:,.0f} events/s, a ratio of at most {ceiling / raw_rate:.2f}; (b) reached "
            f"{full_rate / ceiling:.0%} of it",
            soft_wrap=True,
        )
    console.print(
        f"raw record: value {raw.value_bytes} B, headers {raw.header_bytes} B, raw group join {raw.join_s:.1f} s "
        f"(not timed); tremplin_shared from {Path(tremplin_shared.__file__).parent}"
    )
    ok = True
    for label, result in (("(b)", full), ("(c)", staged)):
        if result is None:
            continue
        good = (
            result.applied == result.inbox_rows == result.events
            and result.candidates == result.participants
            and result.pending == 0
            and result.fallbacks == 0
        )
        ok = ok and good
        console.print(
            f"{label} {'[green]checks ok[/]' if good else '[red]CHECKS FAILED[/]'}: {result.events} events written, "
            f"{result.applied} applied, inbox {result.inbox_rows}, candidates {result.candidates} "
            f"of {result.participants}, outbox pending {result.pending}, one-by-one fallbacks {result.fallbacks}"
        )
    print(f"bench-bus: raw={raw_rate:.0f}/s full={full_rate:.0f}/s ratio={ratio:.3f} p50={p50:.0f} p99={p99:.0f}")
    if args.profile:
        for name in ("participants-full", "consumer-full"):
            path = Path(args.profile) / f"{name}.pstats"
            console.print(f"\n[bold]{name}: top functions by own time[/] ({path})")
            pstats.Stats(str(path), stream=sys.stdout).sort_stats("tottime").print_stats(15)
    return ok


# ----------------------------------------------------------------------------------------------- main


async def main(args) -> bool:
    rng = random.Random(args.seed)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    workdir = Path(tempfile.mkdtemp(prefix="bench-bus-"))
    broker = EmbeddedBroker(port=free_port(), log_file=workdir / "tansu.log").start()
    staged = None
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        console.print(
            f"broker {broker.bootstrap} (Tansu, memory storage), {args.events} events, {args.db}; "
            f"load average {load} on {os.cpu_count()} CPUs (other work on the machine skews the figures)"
        )
        raw = await raw_baseline(broker.bootstrap, args.events, args.partitions, rng, args.raw_rounds)
        participants = args.events if args.writer == "api" else math.ceil(args.events / 2)
        items = [participant_fields(rng) for _ in range(participants)]
        async with databases(args.db, workdir) as urls:
            full = await full_path(args, broker.bootstrap, urls, items, workdir, staged=False)
        broker.stop()
        if args.stages:  # a broker of its own: nothing left of (b) in the topic or the group's offsets
            broker = EmbeddedBroker(port=free_port(), log_file=workdir / "tansu-staged.log").start()
            async with databases(args.db, workdir) as urls:
                staged = await full_path(args, broker.bootstrap, urls, items, workdir, staged=True)
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return print_report(args, raw, full, staged)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.bus", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--writer", choices=["api", "import"], default="api", help="how (b) writes; see above")
    parser.add_argument("--tx-size", type=int, help="participants per write transaction (api: 1, import: 1000)")
    parser.add_argument("--writers", type=int, default=8, help="concurrent writers, like concurrent requests")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--raw-rounds", type=int, default=3, help="(a) is the median of this many rounds")
    parser.add_argument("--stages", action="store_true", help="then (c): each stage alone, on fresh databases")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop", help="uvicorn runs on uvloop")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up on (b) after this many seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", metavar="DIR", help="cProfile both processes during (b), stats into DIR")
    parser.add_argument("--child-consumer", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tx_size is None:
        args.tx_size = 1 if args.writer == "api" else 1000
    if min(args.events, args.tx_size, args.writers, args.raw_rounds, args.partitions) < 1:
        parser.error("--events, --tx-size, --writers, --raw-rounds and --partitions must be positive")
    if args.profile:
        args.profile = str(Path(args.profile).resolve())
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    return args


def run(coro, loop: str):
    if loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    return asyncio.run(coro)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.child_consumer:
        run(consumer_child(json.loads(arguments.child_consumer)), arguments.loop)
    elif not run(main(arguments), arguments.loop):
        sys.exit(1)
