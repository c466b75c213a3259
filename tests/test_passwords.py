"""The password policy (NIST SP 800-63B) and hashing: no stack needed."""

from __future__ import annotations

import pytest

from shared.auth import hash_password, verify_password
from shared.passwords import MAX_LENGTH, MIN_LENGTH, common_passwords, password_problem


def test_the_blocklist_is_a_real_list() -> None:
    words = common_passwords()
    assert len(words) > 10_000
    assert {"password", "12345678", "iloveyou", "sunshine"} <= words


@pytest.mark.parametrize("password", ["password", "PassWord", "12345678", "qwertyuiop", "ILOVEYOU"])
def test_common_passwords_are_refused_whatever_the_case(password: str) -> None:
    assert password_problem(password) == "This password is too common; choose another."


def test_length_bounds() -> None:
    assert MIN_LENGTH == 8 and MAX_LENGTH >= 64
    assert password_problem("kq7-vzm") is not None  # 7 characters
    assert password_problem("kq7-vzm2") is None  # 8 characters
    assert password_problem("xk9" * 21 + "z") is None  # 64 characters
    assert password_problem("lq-" * 85 + "z") is None  # 256 characters
    assert password_problem("q" * MAX_LENGTH + "xy") is not None


def test_no_composition_rules_and_every_character_counts() -> None:
    assert password_problem("just lower case words here") is None
    assert password_problem("ünïcødé paßwörter") is None
    assert password_problem("  spaced out  ") is None


def test_email_and_degenerate_passwords_are_refused() -> None:
    assert password_problem("alice@example.com", email="alice@example.com") is not None
    assert password_problem("aliceandbob", email="aliceandbob@example.com") is not None
    assert password_problem("abababababab") is not None


def test_long_passwords_are_not_truncated_at_72_bytes() -> None:
    base = "é" * 40  # 80 bytes in UTF-8
    hashed = hash_password(base + "one")
    assert verify_password(base + "one", hashed)
    assert not verify_password(base + "two", hashed)
    assert not verify_password(base, hashed)


def test_hash_never_holds_the_password_and_unknown_account_still_verifies() -> None:
    hashed = hash_password("correct horse battery staple")
    assert "horse" not in hashed
    assert verify_password("anything at all", None) is False
