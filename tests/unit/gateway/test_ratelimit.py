from datetime import UTC, datetime, timedelta

from services.gateway.domain.ratelimit import Limits, Policy, decide

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
POLICY = Policy("login", 3, timedelta(minutes=15))


def test_allowed_below_the_limit():
    assert decide([], POLICY, NOW).allowed
    assert decide([NOW - timedelta(minutes=1)] * 2, POLICY, NOW).allowed


def test_refused_at_the_limit_with_the_wait_until_the_oldest_leaves():
    attempts = [NOW - timedelta(minutes=10), NOW - timedelta(minutes=5), NOW]
    decision = decide(attempts, POLICY, NOW)
    assert not decision.allowed
    assert decision.retry_after_seconds == 5 * 60


def test_attempts_outside_the_window_do_not_count():
    attempts = [NOW - timedelta(minutes=16)] * 10 + [NOW - timedelta(minutes=1)]
    assert decide(attempts, POLICY, NOW).allowed


def test_buckets_hash_their_parts_and_differ_per_part():
    a = POLICY.bucket("sam", "10.0.0.1")
    assert a.startswith("login:") and "sam" not in a and len(a) < 60
    assert a != POLICY.bucket("sam", "10.0.0.2") != POLICY.bucket("sally", "10.0.0.1")
    assert a == POLICY.bucket("sam", "10.0.0.1")


def test_default_limits_are_sane():
    limits = Limits()
    assert limits.login.limit >= 3 and limits.login.window >= timedelta(minutes=5)
    assert limits.link_guesses.window == timedelta(minutes=1)
