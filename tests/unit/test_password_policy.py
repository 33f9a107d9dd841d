"""The password policy of hub users (hub/auth/password_policy.py): each rule refuses what it
names, with a reason, and good passphrases pass."""

from __future__ import annotations

import pytest

from hub.auth.password_policy import (
    MIN_PASSWORD_CHARS,
    WeakPasswordError,
    check_password,
    common_passwords,
    password_problems,
)


@pytest.mark.parametrize(
    "password",
    ["tulip-marble-anchor-97", "correct horse battery", "Brisk otter 4 lanterns", "xq7!Vd2#pLm9"],
)
def test_good_passwords_pass(password: str) -> None:
    assert password_problems(password, username="admin") == []
    check_password(password, username="admin")


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Sh0rt!pw", "too short"),
        ("password1234", "common password"),
        ("P@ssw0rd2024!", "common password"),
        ("Reception2026!", "common password"),
        ("innsight12345", "common password"),
        ("adminadminadmin", "common password"),
        ("qwertyuiop12", "common password"),
        ("abcdefghijklm", "sequence"),
        ("zzzzzzzzzzzzzz", "repetitive"),
        ("ababababababab", "repetitive"),
        (" leading space pass", "white space"),
        ("frontdesk-maria-2026", "contains the username"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, reason: str) -> None:
    problems = password_problems(password, username="maria")
    assert any(reason in p for p in problems), problems
    with pytest.raises(WeakPasswordError) as caught:
        check_password(password, username="maria")
    assert reason in str(caught.value)
    # the reason never quotes the password itself
    assert password.strip() not in str(caught.value)


def test_the_length_rule_says_how_long() -> None:
    (problem,) = [p for p in password_problems("a7#kQ", username=None) if "short" in p]
    assert f"at least {MIN_PASSWORD_CHARS}" in problem
    assert "5 characters" in problem


def test_the_bundled_list_is_modest_and_lower_case() -> None:
    words = common_passwords()
    assert 200 <= len(words) <= 5000
    assert all(w == w.lower() for w in words)
    assert {"password", "123456", "qwerty", "innsight", "reception"} <= words
