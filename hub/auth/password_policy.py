"""Which passwords the hub accepts for its users (pure, no I/O but the bundled word list).

Rules, in the spirit of NIST SP 800-63B and zxcvbn, without a download:

- at least :data:`MIN_PASSWORD_CHARS` characters (at most :data:`MAX_PASSWORD_CHARS`, the
  sign-in form's limit);
- not a common password, nor one with digits or symbols around it, leetspeak (``P@ssw0rd!``)
  or doubled (``adminadmin``): ``common_passwords.json`` ships a few hundred of them, with
  hotel words (``reception``, ``frontdesk``) and this product's name;
- not the username, nor containing it;
- not a run or a repetition: enough different characters, not mostly a sequence (``abcdef``,
  ``123456``, ``qwerty`` rows).

:func:`password_problems` answers every reason; an empty list means the password is accepted.
"""

from __future__ import annotations

import itertools
import json
from functools import lru_cache
from importlib import resources

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024
MIN_DISTINCT_CHARS = 6

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "abcdefghijklmnopqrstuvwxyz")


class WeakPasswordError(ValueError):
    """The password is refused; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The bundled list of common passwords (lower case)."""
    text = resources.files("hub.auth").joinpath("common_passwords.json").read_text("utf-8")
    words = json.loads(text)
    return frozenset(str(word).lower() for word in words)


def _cores(password: str) -> set[str]:
    """The password lower-cased, with and without leetspeak, digits and symbols at its ends."""
    lowered = password.lower()
    cores = {lowered, lowered.translate(_LEET)}
    for word in list(cores):
        cores.add(word.strip("0123456789!@#$%^&*()_+-=.,;:?~`'\"[]{}<>/\\| "))
        cores.add(word.rstrip("0123456789!@#$%^&*()_+-=.,;:?~ "))
        cores.add(word.translate(_LEET).strip("0123456789!@#$%^&*()_+-=.,;:?~ "))
    for word in list(cores):  # repeated: "adminadmin", "abcabcabc"
        for size in range(1, len(word) // 2 + 1):
            if len(word) % size == 0 and word == word[:size] * (len(word) // size):
                cores.add(word[:size])
                break
    cores.discard("")
    return cores


def _is_common(password: str) -> bool:
    words = common_passwords()
    return any(core in words for core in _cores(password))


def _sequential_share(password: str) -> float:
    """The share of neighbouring character pairs that step along a keyboard row or the
    alphabet (either way) or repeat."""
    lowered = password.lower()
    if len(lowered) < 2:
        return 1.0
    steps = 0
    for a, b in itertools.pairwise(lowered):
        if a == b or any((a + b) in row or (b + a) in row for row in _KEYBOARD_ROWS):
            steps += 1
    return steps / (len(lowered) - 1)


def password_problems(password: str, *, username: str | None = None) -> list[str]:
    """Every reason ``password`` is refused (empty: accepted). Never echoes the password."""
    problems: list[str] = []
    if len(password) < MIN_PASSWORD_CHARS:
        problems.append(
            f"too short: {len(password)} characters, at least {MIN_PASSWORD_CHARS} are needed "
            "(a few unrelated words make a long password that is easy to type)"
        )
    if len(password) > MAX_PASSWORD_CHARS:
        problems.append(f"too long: at most {MAX_PASSWORD_CHARS} characters")
    if password != password.strip():
        problems.append("starts or ends with white space (easy to lose when typing or copying)")
    if _is_common(password):
        problems.append(
            "a common password (or one with digits, symbols or letter swaps added): "
            "it is among the first an attacker tries"
        )
    if username and len(username) >= 3 and username.lower() in password.lower():
        problems.append("contains the username")
    if len(set(password)) < MIN_DISTINCT_CHARS:
        problems.append(
            f"too repetitive: only {len(set(password))} different characters "
            f"(at least {MIN_DISTINCT_CHARS})"
        )
    elif _sequential_share(password) >= 0.6:
        problems.append("mostly a sequence or a keyboard run (like 'abcdef' or 'qwerty')")
    return problems


def check_password(password: str, *, username: str | None = None) -> None:
    """Raise :class:`WeakPasswordError` unless ``password`` is accepted."""
    problems = password_problems(password, username=username)
    if problems:
        raise WeakPasswordError(problems)
