"""`tremplin run`: the whole stack on the embedded default, in the foreground.

Tansu (memory) on 127.0.0.1:9092, the four services on 8001-8004 and the gateway on 8000, each a
uvicorn process with its SQLite file under var/. Logs go to var/logs/<component>.log. A demo
territory (`loir-et-cher`) gets an admin API key, printed and written to var/demo-api-key.
"""

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from tremplin_shared.embedded_broker import EmbeddedBroker, port_open

console = Console()

DEMO_TENANT = "loir-et-cher"


@dataclass(frozen=True)
class Component:
    name: str
    app: str
    port: int

    @property
    def prefix(self) -> str:
        return self.name.upper() + "_"


SERVICES = [
    Component("participants", "tremplin_participants.main:app", 8001),
    Component("matching", "tremplin_matching.main:app", 8002),
    Component("clauses", "tremplin_clauses.main:app", 8003),
    Component("funding", "tremplin_funding.main:app", 8004),
]
GATEWAY = Component("gateway", "tremplin_gateway.main:app", 8000)


def identity_secret(var: Path) -> str:
    """One random secret per checkout, kept in var/ so restarts keep working with old processes' keys."""
    path = var / "identity-secret"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def component_env(component: Component, var: Path, bootstrap: str, secret: str, host: str) -> dict[str, str]:
    p = component.prefix
    env = {
        **os.environ,
        f"{p}DATABASE_URL": f"sqlite+aiosqlite:///{(var / f'{component.name}.db').resolve()}",
        f"{p}KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        f"{p}IDENTITY_SECRET": secret,
    }
    if component is GATEWAY:
        for service in SERVICES:
            env[f"GATEWAY_{service.name.upper()}_URL"] = f"http://{host}:{service.port}"
        # Local development: a webhook receiver on this machine (http://127.0.0.1:…) may be subscribed,
        # unless the environment says otherwise. Production keeps https and public addresses only.
        env.setdefault("GATEWAY_WEBHOOK_ALLOW_HTTP", "true")
        env.setdefault("GATEWAY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", "true")
    return env


def start(component: Component, env: dict[str, str], logs: Path, host: str) -> subprocess.Popen:
    if port_open(host, component.port):
        raise RuntimeError(f"port {component.port} ({component.name}) is already in use")
    log = open(logs / f"{component.name}.log", "ab")  # noqa: SIM115 - lives as long as the process
    command = [sys.executable, "-m", "uvicorn", component.app, "--host", host, "--port", str(component.port),
               "--no-access-log", "--log-level", "warning"]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(url: str, processes: dict[str, subprocess.Popen], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode}; see var/logs/{name}.log")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} was not ready within {timeout:.0f} s")


def wait_consumers_joined(urls: list[str], timeout: float) -> bool:
    """Until every service's consumer is in its group (`consumer_joined` in /readyz): the first join
    takes seconds, and an event written before it would wait that long. False if it takes longer."""
    deadline, waiting = time.monotonic() + timeout, list(urls)
    while waiting and time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, ValueError):  # not up yet: asked again
            waiting = [url for url in waiting if not httpx.get(url, timeout=1.0).json().get("consumer_joined", True)]
        if waiting:
            time.sleep(0.2)
    return not waiting


def demo_api_key(var: Path, database_url: str) -> str:
    """The demo territory's admin key: the one in var/demo-api-key if it still works, else a new one."""
    from tremplin_gateway.keys import ensure_demo_key

    path = var / "demo-api-key"
    previous = path.read_text().strip() if path.exists() else None
    key = ensure_demo_key(database_url, DEMO_TENANT, previous)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def load_demo_once(var: Path, gateway_url: str, key: str) -> None:
    """The demo people and parcours, loaded on the first run only (the SQLite files keep them)."""
    from .demo import seed

    marker = var / "demo-loaded"
    if marker.exists():
        return
    with console.status("loading the demo territory (Loir-et-Cher)"):
        try:
            count = seed(gateway_url, key)
        except httpx.HTTPStatusError as exc:
            console.print(
                f"[yellow]demo data not loaded:[/yellow] {exc.response.status_code} {exc.response.text[:300]}"
            )
            return
    marker.write_text(f"{count}\n")
    console.print(
        f"demo territory loaded: {count} participants and their parcours, job offers and applications, "
        "clause operations and hours, funds, conventions and a CDE run"
    )


def stop_all(processes: dict[str, subprocess.Popen], broker: EmbeddedBroker) -> None:
    for process in reversed(list(processes.values())):
        if process.poll() is None:
            process.terminate()
    for process in processes.values():
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
    broker.stop()


def run_stack(
    var_dir: str = "var", host: str = "127.0.0.1", broker_port: int = 9092, ready_timeout: float = 60
) -> None:
    var = Path(var_dir)
    logs = var / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    secret = identity_secret(var)
    started = time.monotonic()
    broker = EmbeddedBroker(port=broker_port, host=host, log_file=logs / "broker.log")
    processes: dict[str, subprocess.Popen] = {}

    def _terminate(signum, _frame) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        with console.status("starting the embedded broker"):
            broker.start()
        # The key before the gateway starts (this migrates its database first): once the gateway's
        # /readyz is green, var/demo-api-key is there for a script that waited for it.
        with console.status("creating the demo territory's key"):
            gateway_db = component_env(GATEWAY, var, broker.bootstrap, secret, host)["GATEWAY_DATABASE_URL"]
            key = demo_api_key(var, gateway_db)
        with console.status("starting the services and the gateway"):
            for component in [*SERVICES, GATEWAY]:
                env = component_env(component, var, broker.bootstrap, secret, host)
                processes[component.name] = start(component, env, logs, host)
            for component in SERVICES:
                wait_ready(f"http://{host}:{component.port}/readyz", processes, ready_timeout)
            wait_ready(f"http://{host}:{GATEWAY.port}/readyz", processes, ready_timeout)
        with console.status("waiting for the consumers to join their groups"):
            if not wait_consumers_joined([f"http://{host}:{c.port}/readyz" for c in SERVICES], ready_timeout):
                console.print("[yellow]some consumers are still joining: their first events will wait for them")
        ready_in = time.monotonic() - started
        load_demo_once(var, f"http://{host}:{GATEWAY.port}", key)
        print_ready(host, key, ready_in)
        while True:
            for name, process in processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {process.returncode}; see var/logs/{name}.log")
            time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("\nstopping…")
    except RuntimeError as exc:
        console.print(f"[red]error:[/red] {exc}")
        stop_all(processes, broker)
        raise SystemExit(1) from exc
    stop_all(processes, broker)
    console.print("stopped.")


def print_ready(host: str, key: str, seconds: float) -> None:
    table = Table(show_header=True, header_style="bold")
    table.add_column("component")
    table.add_column("address")
    table.add_row("gateway (API, /docs)", f"http://{host}:{GATEWAY.port}")
    for component in SERVICES:
        table.add_row(component.name, f"http://{host}:{component.port} (behind the gateway)")
    table.add_row("broker (Tansu, memory)", f"{host}:9092")
    console.print(table)
    console.print(
        Panel.fit(
            f"demo territory [bold]{DEMO_TENANT}[/bold], admin API key (also in var/demo-api-key):\n"
            f"[bold green]{key}[/bold green]\n\n"
            f"curl -H 'Authorization: Bearer {key}' http://{host}:{GATEWAY.port}/api/v1/participants/…\n"
            f"docs: http://{host}:{GATEWAY.port}/docs",
            title=f"Tremplin is ready in {seconds:.1f} s — Ctrl-C stops everything",
        )
    )
