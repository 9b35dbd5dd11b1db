"""The per-node token buckets, on a clock the test moves."""

from __future__ import annotations

from datetime import timedelta

import pytest

from creditlink.gateway.ratelimit import RateLimiter, TokenBucket
from creditlink.sdk.errors import Pushback


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refusal_with_the_time_until_the_next_token() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    for _ in range(3):
        limiter.check("zj-330000")
    with pytest.raises(Pushback) as info:
        limiter.check("zj-330000")
    assert info.value.reason == "RATE_LIMITED"
    assert info.value.retry_after == timedelta(milliseconds=500)  # one token at 2/s
    clock.now += 0.5
    limiter.check("zj-330000")  # refilled exactly as announced


def test_each_node_has_its_own_allowance() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=1, clock=clock)
    limiter.check("zj-330000")
    limiter.check("gd-440000")  # not affected by the other node's use
    with pytest.raises(Pushback):
        limiter.check("zj-330000")


def test_refill_never_exceeds_the_burst() -> None:
    bucket = TokenBucket(rate=10.0, burst=2, now=0.0)
    assert bucket.take(1000.0) == 0.0
    assert bucket.take(1000.0) == 0.0
    assert bucket.take(1000.0) == pytest.approx(0.1)
    assert not bucket.full(1000.0)
    assert bucket.full(1000.2)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0.0, burst=1, now=0.0)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(rate=1.0, burst=0, now=0.0)
