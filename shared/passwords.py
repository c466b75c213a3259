"""Password policy after NIST SP 800-63B: length, a blocklist, no composition rules."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

MIN_LENGTH = 8
MAX_LENGTH = 256  # well past the 64 that NIST asks to accept; bounds the hashing work
# The rules below in the OpenAPI document: the length is the field's own; "more than two distinct
# characters" is a pattern it must not match (two characters at most, in any order); the
# blocklist and the email are said in words.
NEW_PASSWORD_RULES = {
    "not": {"pattern": r"^([\s\S])\1*(?:([\s\S])(?:\1|\2)*)?$"},
    "description": (
        f"{MIN_LENGTH} to {MAX_LENGTH} characters, every one kept (spaces too), more than two distinct; "
        "not a common password (case-insensitive) nor the account's email or its local part."
    ),
}


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common and breached passwords, lower-cased."""
    try:
        text = resources.files("shared.data").joinpath("common-passwords.txt").read_text("utf-8")
    except FileNotFoundError:
        return frozenset()
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def password_problem(password: str, *, email: str | None = None) -> str | None:
    """Why `password` is not acceptable, or None. Whitespace and every character count."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    if password.lower() in common_passwords():
        return "This password is too common; choose another."
    if email:
        local = email.split("@")[0].lower()
        if password.lower() in {email.lower(), local}:
            return "The password must not be your email address."
    if len(set(password)) < 3:
        return "Use a password with more than one or two distinct characters."
    return None
