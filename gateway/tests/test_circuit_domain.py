"""The circuit breaker's state machine, with a fake clock."""

from tremplin_gateway.domain.circuit import CLOSED, HALF_OPEN, OPEN, CircuitBreaker


def test_opens_after_consecutive_failures_only():
    cb = CircuitBreaker(failure_threshold=3, recovery_seconds=10)
    cb.failure(0)
    cb.failure(0)
    cb.success()  # not consecutive any more
    cb.failure(1)
    cb.failure(1)
    assert cb.state == CLOSED and cb.allow(1)
    cb.failure(2)
    assert cb.state == OPEN and not cb.allow(3)
    assert cb.retry_after(3) == 9


def test_half_open_lets_one_probe_through_then_closes_or_opens_again():
    cb = CircuitBreaker(failure_threshold=1, recovery_seconds=10)
    cb.failure(0)
    assert not cb.allow(9.9)
    assert cb.allow(10) and cb.state == HALF_OPEN  # the probe
    assert not cb.allow(10.1)  # others wait for it
    cb.failure(11)  # the probe failed: open again, for a whole period
    assert cb.state == OPEN and not cb.allow(20) and cb.allow(21)
    cb.success()
    assert cb.state == CLOSED and cb.failures == 0 and cb.allow(21) and cb.allow(21)
