"""One normalisation for every email the API takes, and the document id derived from it.

Register, login, password reset, student requests and the admin CLI all pass an address through
`normalize_email`, so an address that registers can always sign in: the same Unicode form (NFC),
the domain as Unicode whether it came as punycode or not, everything lower-cased. A document id
is never built from the raw address (a `/` would nest the path): `email_key` hashes the
normalised form.

`email_validator` is imported on first use, so routes that take no email never load it.
"""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

MAX_LENGTH = 254


def normalize_email(value: str, *, strict: bool = True) -> str:
    """The canonical form of an address. `strict`: raise ValueError (a 422 in a payload) when it
    is not a valid address; otherwise (login, reset: an unknown address simply matches no
    account) fall back to the same Unicode and case folding without validation."""
    text = unicodedata.normalize("NFC", value.strip())
    try:
        from email_validator import EmailNotValidError, validate_email

        try:
            text = validate_email(text, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            if strict:
                raise ValueError(f"Not a valid email address: {exc}") from None
    except ImportError:  # pragma: no cover - email-validator is a runtime requirement
        if strict and "@" not in text:
            raise ValueError("Not a valid email address.") from None
    return unicodedata.normalize("NFC", text).lower()


def email_key(email: str) -> str:
    """The document id for an (already normalised) email: fixed length, no path characters."""
    return hashlib.sha256(email.encode()).hexdigest()


def _strict(value: str) -> str:
    return normalize_email(value, strict=True)


def _lenient(value: str) -> str:
    return normalize_email(value, strict=False)


def _address_schema(schema: dict[str, Any]) -> None:
    """`format: email`, and what email-validator refuses beyond it: a special-use domain
    (`x@host.test`, `x@localhost`), in any case."""
    from email_validator import SPECIAL_USE_DOMAIN_NAMES

    names = "|".join(
        "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in n) for n in SPECIAL_USE_DOMAIN_NAMES
    )
    schema.update({"format": "email", "not": {"pattern": rf"@(.*\.)?({names})\.?$"}})


# A payload field that must be a valid address (registration, requests that create accounts).
Email = Annotated[
    str,
    StringConstraints(min_length=3, max_length=MAX_LENGTH),
    AfterValidator(_strict),
    Field(json_schema_extra=_address_schema),
]
# A payload field that looks an address up (login, reset): any text, normalised the same way.
EmailLookup = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_LENGTH),
    AfterValidator(_lenient),
]
