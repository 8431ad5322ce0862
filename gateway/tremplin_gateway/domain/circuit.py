"""A circuit breaker per upstream service. Pure: the caller passes the clock.

closed ──(failure_threshold consecutive failures)──► open ──(recovery_seconds)──► half-open
  ▲                                                   ▲                              │
  └────────────── the probe succeeds ─────────────────┼──────────────────────────────┤
                                                      └──── the probe fails ─────────┘

Open: every request is refused at once (503) without touching the upstream. Half-open: ONE
request (the probe) goes through; the others are still refused until it has answered.
"""

from dataclasses import dataclass

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


@dataclass
class CircuitBreaker:
    failure_threshold: int = 5
    recovery_seconds: float = 10.0
    state: str = CLOSED
    failures: int = 0  # consecutive
    opened_at: float = 0.0
    probing: bool = False

    def allow(self, now: float) -> bool:
        """Whether a request may go to the upstream now (and, half-open, it becomes the probe)."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN:
            if now - self.opened_at < self.recovery_seconds:
                return False
            self.state = HALF_OPEN
            self.probing = False
        if self.probing:  # half-open, a probe already in flight
            return False
        self.probing = True
        return True

    def success(self) -> None:
        self.state, self.failures, self.probing = CLOSED, 0, False

    def failure(self, now: float) -> None:
        self.failures += 1
        if self.state == HALF_OPEN or self.failures >= self.failure_threshold:
            self.state, self.opened_at, self.probing = OPEN, now, False

    def abandon(self) -> None:
        """The request let through ended with no verdict on the upstream (the client went away)."""
        self.probing = False

    def retry_after(self, now: float) -> float:
        """Seconds until a probe may be tried (0 when not open)."""
        if self.state != OPEN:
            return 0.0
        return max(0.0, self.recovery_seconds - (now - self.opened_at))
