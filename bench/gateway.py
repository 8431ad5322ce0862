"""Gateway hop benchmark: the same GET served directly by a service and through the gateway.

    .venv/bin/python -m bench.gateway [--seconds 8] [--connections 32] [--rounds 3] [--paced-rate R]
                                      [--db postgres|sqlite]

The matching service and the gateway each run as their own uvicorn process (uvloop, httptools,
access log off) on 127.0.0.1, on fresh databases dropped at the end. One offer is created; the
GET is `GET /api/v1/offers/{id}` (one indexed read in the service's database).

This process is the load generator (a second process, loopback only), over --connections
keep-alive HTTP/1.1 connections. Direct: with the signed identity header the gateway would have
added (so the service does exactly the same work). Through the gateway: with an API key (its own
rate limit set high, so the limiter counts every request but never refuses one). Every answer
must be a 200. Two loads, each the same for both paths:

- saturating (throughput): each connection sends the next request as soon as the previous answer
  is read, for --seconds after a warm-up; the legs alternate, --rounds times each, the figures are
  the median round. Target: gateway requests/s ≥ 0.7 of direct. Latency here is mostly queueing
  (connections / throughput), so its p50 added only restates the ratio; it is printed too.
- paced (latency): requests scheduled at a fixed rate (--paced-rate, default half the slower
  path's saturating throughput) spread over the same connections; each latency counts from the
  scheduled instant, so a request that waited for a connection counts its wait too (no
  coordinated omission). Target: p50 added by the hop ≤ 2 ms.

All processes share the machine's CPUs: on a small machine the gateway leg runs three busy
processes where the direct leg runs two, which the ratio shows.
"""

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from tremplin_shared.db import make_engine, make_sessionmaker
from tremplin_shared.embedded_broker import free_port
from tremplin_shared.identity import IDENTITY_HEADER, Identity, sign_identity

from .databases import fresh_databases

SECRET = "bench-gateway-identity-secret"
TENANT = "loir-et-cher"
HOST = "127.0.0.1"

console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)


# ---------------------------------------------------------------------------------------------- servers


def uvicorn_process(app: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "uvicorn", app, "--host", HOST, "--port", str(port), "--loop", "uvloop",
               "--http", "httptools", "--no-access-log", "--log-level", "warning"]  # fmt: skip
    return subprocess.Popen(command, env={**os.environ, **env}, stdout=log.open("w"), stderr=subprocess.STDOUT)


def cpu_seconds(pid: int) -> float:
    """CPU (user + system) a process used so far (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(trust_env=False) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{url} exited:\n{await asyncio.to_thread(tail, log)}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/healthz", timeout=1)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy:\n{await asyncio.to_thread(tail, log)}")


def databases(kind: str, workdir: Path):
    """Fresh matching and gateway databases at the head of their migrations; dropped after."""
    import tremplin_gateway
    import tremplin_matching

    return fresh_databases(
        kind, workdir, {"matching": tremplin_matching, "gateway": tremplin_gateway}, prefix="bench_gw"
    )


async def bench_key(database_url: str) -> str:
    from tremplin_gateway.keys import create_api_key

    engine = make_engine(database_url)
    try:
        _, plaintext = await create_api_key(
            make_sessionmaker(engine), TENANT, ["referent"], "bench", rate_limit="9999999/minute"
        )
    finally:
        await engine.dispose()
    return plaintext


async def create_offer(service: str, identity: str) -> str:
    from tremplin_cli.demo import demo_offers

    offer = demo_offers(1, date.today())[0]
    async with httpx.AsyncClient(base_url=service, trust_env=False) as client:
        response = await client.post("/api/v1/offers", json=offer, headers={IDENTITY_HEADER: identity})
        response.raise_for_status()
        return response.json()["id"]


# ---------------------------------------------------------------------------------------------- load


@dataclass
class LegResult:
    name: str
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    cpu: dict[str, float]  # CPU seconds used during the leg, per process: service, gateway, load

    def cpu_per_request_ms(self, process: str) -> float:
        return self.cpu[process] / max(1, self.requests) * 1000

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        values = sorted(self.latencies_ms)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


async def read_response(reader: asyncio.StreamReader) -> int:
    """One HTTP/1.1 response (Content-Length or chunked); its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
    if b"content-length" in headers:
        await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def connection(port: int, request: bytes, next_start, latencies: list[float], errors: list[int]) -> None:
    """Requests one after the other on one connection; `next_start()` gives the instant each latency
    counts from (now, or when it was scheduled), or None to stop."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while (started := await next_start()) is not None:
            writer.write(request)
            status = await read_response(reader)
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def leg(
    name: str, port: int, request: bytes, connections: int, seconds: float, pids: dict[str, int]
) -> LegResult:
    latencies: list[float] = []
    errors: list[int] = []
    before = {process: cpu_seconds(pid) for process, pid in pids.items()}
    started = time.perf_counter()
    until = started + seconds

    async def now_until_the_end() -> float | None:
        now = time.perf_counter()
        return now if now < until else None

    await asyncio.gather(*(connection(port, request, now_until_the_end, latencies, errors) for _ in range(connections)))
    elapsed = time.perf_counter() - started
    cpu = {process: cpu_seconds(pid) - before[process] for process, pid in pids.items()}
    return LegResult(name, len(latencies), elapsed, latencies, len(errors), cpu)


async def paced_leg(
    name: str, port: int, request: bytes, connections: int, rate: float, seconds: float, pids: dict[str, int]
) -> LegResult:
    """`rate` requests per second for `seconds`, each handed to the first free connection."""
    latencies: list[float] = []
    errors: list[int] = []
    schedule: asyncio.Queue = asyncio.Queue()
    before = {process: cpu_seconds(pid) for process, pid in pids.items()}
    workers = [
        asyncio.create_task(connection(port, request, schedule.get, latencies, errors)) for _ in range(connections)
    ]
    started = time.perf_counter()
    for i in range(round(rate * seconds)):
        due = started + i / rate
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        schedule.put_nowait(due)
    for _ in workers:
        schedule.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - started
    cpu = {process: cpu_seconds(pid) - before[process] for process, pid in pids.items()}
    return LegResult(name, len(latencies), elapsed, latencies, len(errors), cpu)


def http_get(path: str, port: int, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}:{port}", "Accept: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# ---------------------------------------------------------------------------------------------- run


async def main(args) -> bool:
    workdir = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    processes: list[subprocess.Popen] = []
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        console.print(
            f"{args.connections} connections, {args.seconds:g} s per leg × {args.rounds} rounds, {args.db}; "
            f"load average {load} on {os.cpu_count()} CPUs (other work on the machine skews the figures)"
        )
        async with databases(args.db, workdir) as urls:
            service_port, gateway_port = free_port(), free_port()
            closed_broker = f"{HOST}:{free_port()}"
            service_log, gateway_log = workdir / "matching.log", workdir / "gateway.log"
            service = uvicorn_process(
                "tremplin_matching.main:app", service_port,
                {"MATCHING_DATABASE_URL": urls["matching"], "MATCHING_IDENTITY_SECRET": SECRET,
                 "MATCHING_RUN_BACKGROUND_WORKERS": "false", "MATCHING_LOG_LEVEL": "WARNING",
                 "MATCHING_KAFKA_BOOTSTRAP_SERVERS": closed_broker},
                service_log,
            )  # fmt: skip
            processes.append(service)
            gateway = uvicorn_process(
                "tremplin_gateway.main:app", gateway_port,
                {"GATEWAY_DATABASE_URL": urls["gateway"], "GATEWAY_IDENTITY_SECRET": SECRET,
                 "GATEWAY_MATCHING_URL": f"http://{HOST}:{service_port}", "GATEWAY_RUN_BACKGROUND_WORKERS": "false",
                 "GATEWAY_LOG_LEVEL": "WARNING", "GATEWAY_KAFKA_BOOTSTRAP_SERVERS": closed_broker},
                gateway_log,
            )  # fmt: skip
            processes.append(gateway)
            service_url, gateway_url = f"http://{HOST}:{service_port}", f"http://{HOST}:{gateway_port}"
            await wait_healthy(service_url, service, service_log)
            await wait_healthy(gateway_url, gateway, gateway_log)

            identity = sign_identity(Identity(tenant=TENANT, subject="bench", roles=("referent",)), SECRET)
            offer_id = await create_offer(service_url, identity)
            key = await bench_key(urls["gateway"])
            path = f"/api/v1/offers/{offer_id}"
            direct = http_get(path, service_port, {IDENTITY_HEADER: identity})
            through = http_get(path, gateway_port, {"Authorization": f"Bearer {key}"})

            pids = {"service": service.pid, "gateway": gateway.pid, "load": os.getpid()}
            await leg("warm-up", service_port, direct, args.connections, args.warmup, pids)
            await leg("warm-up", gateway_port, through, args.connections, args.warmup, pids)
            results: dict[str, list[LegResult]] = {"direct": [], "gateway": []}
            paths = (("direct", service_port, direct), ("gateway", gateway_port, through))
            for _ in range(args.rounds):
                for name, port, request in paths:
                    results[name].append(await leg(name, port, request, args.connections, args.seconds, pids))
            rate = args.paced_rate or 0.5 * min(median_round(rounds).rate for rounds in results.values())
            paced: dict[str, list[LegResult]] = {"direct": [], "gateway": []}
            for _ in range(args.rounds):
                for name, port, request in paths:
                    # Unmeasured first: the other leg ran long enough for the pooled connections to
                    # the service to expire (5 s keep-alive on both sides); the steady state is measured.
                    await paced_leg("warm-up", port, request, args.connections, rate, args.warmup / 2, pids)
                    result = await paced_leg(name, port, request, args.connections, rate, args.seconds, pids)
                    paced[name].append(result)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    return report(args, results, paced, rate)


def median_round(rounds: list[LegResult], key=lambda r: r.rate) -> LegResult:
    return sorted(rounds, key=key)[len(rounds) // 2]


def report(args, results: dict[str, list[LegResult]], paced: dict[str, list[LegResult]], rate: float) -> bool:
    direct, gateway = median_round(results["direct"]), median_round(results["gateway"])
    table = Table(title="GET /api/v1/offers/{id}, same saturating load", title_justify="left")
    columns = ("path", "requests/s", "p50 ms", "p99 ms", "requests", "non-200", "CPU ms/req service · gateway · load",
               "rounds (req/s)")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "path" else "right")
    for result, rounds in ((direct, results["direct"]), (gateway, results["gateway"])):
        table.add_row(
            "direct to the service" if result.name == "direct" else "through the gateway",
            f"{result.rate:,.0f}", f"{result.percentile(0.5):.2f}", f"{result.percentile(0.99):.2f}",
            f"{result.requests:,}", str(result.errors),
            " · ".join(f"{result.cpu_per_request_ms(p):.2f}" for p in ("service", "gateway", "load")),
            ", ".join(f"{r.rate:,.0f}" for r in rounds),
        )  # fmt: skip
    console.print(table)
    ratio = gateway.rate / direct.rate
    saturated_added = gateway.percentile(0.5) - direct.percentile(0.5)
    console.print(
        f"throughput ratio gateway/direct {ratio:.2f} (target ≥ 0.70: {'met' if ratio >= 0.7 else 'NOT met'}); "
        f"p50 added at saturation {saturated_added:.2f} ms (queueing: connections / throughput)"
    )

    def by_p50(result: LegResult) -> float:
        return result.percentile(0.5)

    paced_direct, paced_gateway = median_round(paced["direct"], by_p50), median_round(paced["gateway"], by_p50)
    table = Table(title=f"the same GET paced at {rate:,.0f} requests/s for both", title_justify="left")
    for column in ("path", "requests/s", "p50 ms", "p99 ms", "requests", "non-200", "rounds (p50 ms)"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for result, rounds in ((paced_direct, paced["direct"]), (paced_gateway, paced["gateway"])):
        table.add_row(
            "direct to the service" if result.name == "direct" else "through the gateway",
            f"{result.rate:,.0f}", f"{result.percentile(0.5):.2f}", f"{result.percentile(0.99):.2f}",
            f"{result.requests:,}", str(result.errors), ", ".join(f"{by_p50(r):.2f}" for r in rounds),
        )  # fmt: skip
    console.print(table)
    added = paced_gateway.percentile(0.5) - paced_direct.percentile(0.5)
    added_p99 = paced_gateway.percentile(0.99) - paced_direct.percentile(0.99)
    console.print(
        f"p50 added by the hop {added:.2f} ms (target ≤ 2 ms: {'met' if added <= 2.0 else 'NOT met'}); "
        f"p99 added {added_p99:.2f} ms"
    )
    errors = sum(r.errors for legs in (results, paced) for rounds in legs.values() for r in rounds)
    if errors:
        console.print(f"[red]{errors} answers were not 200[/]")
    console.print(
        f"CPU per request: the service {direct.cpu_per_request_ms('service'):.2f} ms, the gateway hop "
        f"{gateway.cpu_per_request_ms('gateway'):.2f} ms, on {os.cpu_count()} CPUs shared with the load generator"
    )
    print(
        f"bench-gateway: direct={direct.rate:.0f}/s gateway={gateway.rate:.0f}/s ratio={ratio:.3f} "
        f"saturated_p50_direct={direct.percentile(0.5):.2f}ms saturated_p50_gateway={gateway.percentile(0.5):.2f}ms "
        f"paced_rate={rate:.0f}/s paced_p50_direct={paced_direct.percentile(0.5):.2f}ms "
        f"paced_p50_gateway={paced_gateway.percentile(0.5):.2f}ms p50_added={added:.2f}ms "
        f"paced_p99_direct={paced_direct.percentile(0.99):.2f}ms "
        f"paced_p99_gateway={paced_gateway.percentile(0.99):.2f}ms "
        f"gateway_cpu_per_request={gateway.cpu_per_request_ms('gateway'):.2f}ms"
    )
    return errors == 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured time per leg and round")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured time per leg first")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections")
    parser.add_argument("--rounds", type=int, default=3, help="direct and gateway alternate this many times")
    parser.add_argument(
        "--paced-rate", type=float, default=0.0, help="requests/s of the paced legs (0: half the slower path's)"
    )
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    args = parser.parse_args(argv)
    if min(args.seconds, args.connections, args.rounds) <= 0 or args.paced_rate < 0:
        parser.error("--seconds, --connections and --rounds must be positive, --paced-rate not negative")
    return args


def run(coro):
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


if __name__ == "__main__":
    ok = run(main(parse_args()))
    sys.exit(0 if ok else 1)
