from argon2 import PasswordHasher

from services.gateway.domain.passwords import Passwords, password_problem

# Cheap parameters: the unit under test is the wrapper, not argon2's cost.
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def test_hash_is_argon2id_and_salted():
    p = Passwords(FAST)
    first, second = p.hash("correct horse"), p.hash("correct horse")
    assert first.startswith("$argon2id$") and first != second
    assert p.verify(first, "correct horse") and p.verify(second, "correct horse")


def test_wrong_password_unknown_user_and_garbage_hash_fail_quietly():
    p = Passwords(FAST)
    stored = p.hash("correct horse")
    assert not p.verify(stored, "wrong horse")
    assert not p.verify(None, "not-a-real-password")  # the dummy never logs anyone in
    assert not p.verify("not a hash", "x")


def test_rehash_when_parameters_change():
    old = Passwords(FAST).hash("pw-pw-pw-pw")
    assert Passwords(PasswordHasher()).needs_rehash(old)
    assert not Passwords(FAST).needs_rehash(old)
    assert Passwords(FAST).needs_rehash("garbage")


def test_password_policy():
    assert password_problem("short", "sam") == "must be at least 8 characters"
    assert password_problem("Sam-the-user", "sam-the-user") == "must not be the username"
    assert password_problem("x" * 1025, "sam") is not None
    assert password_problem("long enough pass", "sam") is None
