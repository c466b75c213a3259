"""Where each collection keeps a user's data: declared once, next to the collection, so the
export (`GET /api/v1/users/{id}/export`) cannot forget an area.

    SESSIONS = personal("sessions", field("user_id"), omit=("refresh_hash", "spent_hashes"))
    USER_STATS = personal("user_stats", doc_id())
    ITEMS = personal("progress_items", doc_id_prefix())           # ids "<user id>_..."
    CHATS = personal("chat_sessions", field("user_id"), subcollections=("messages",))
    BOARDS = not_personal("leaderboards", "rankings of many users, rebuilt from user_stats")

A collection is found by any of its `matches`: a field equal to the user's id (or, with
`email=True`, to their email), an array field containing it, the document id itself, or a
document id starting with `<user id>_`. `omit` lists fields never exported (hashes, secrets,
mail bodies that carry links); `hide_id` keeps the document id out (when the id is a token's
hash). `not_personal` records a collection that mentions users but is not theirs to take
away, with the reason.

`python -m infra.generate` writes every declaration to `shared/data/userdata.json`, which the
export function reads at run time, so it never imports another area.
`tests/test_export.py` walks every collection of the emulator after a broad use of the API and
fails when a collection it finds is declared neither way, or when a document that mentions the
user is missing from their export.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

MANIFEST = Path(__file__).resolve().parent / "data" / "userdata.json"

MatchKind = Literal["field", "array", "doc_id", "doc_id_prefix"]


@dataclass(frozen=True)
class Match:
    kind: MatchKind
    path: str = ""  # the field, for "field" and "array"
    email: bool = False  # compare with the user's email rather than their id


def field(path: str, *, email: bool = False) -> Match:
    """Documents whose `path` equals the user's id (or email)."""
    return Match("field", path, email)


def array_field(path: str, *, email: bool = False) -> Match:
    """Documents whose array `path` contains the user's id (or email)."""
    return Match("array", path, email)


def doc_id(*, email: bool = False) -> Match:
    """The document whose id is the user's id (or email)."""
    return Match("doc_id", "", email)


def doc_id_prefix() -> Match:
    """Documents whose id starts with `<user id>_`."""
    return Match("doc_id_prefix")


@dataclass(frozen=True)
class Declaration:
    collection: str
    matches: tuple[Match, ...] = ()
    subcollections: tuple[str, ...] = ()
    omit: tuple[str, ...] = ()
    hide_id: bool = False
    personal: bool = True
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["matches"] = [asdict(m) for m in self.matches]
        data["subcollections"] = list(self.subcollections)
        data["omit"] = list(self.omit)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Declaration:
        return cls(
            collection=data["collection"],
            matches=tuple(Match(**m) for m in data["matches"]),
            subcollections=tuple(data["subcollections"]),
            omit=tuple(data["omit"]),
            hide_id=bool(data["hide_id"]),
            personal=bool(data["personal"]),
            reason=data.get("reason", ""),
        )


_declared: dict[str, Declaration] = {}


def _declare(declaration: Declaration) -> str:
    existing = _declared.get(declaration.collection)
    if existing is not None and existing != declaration:
        raise ValueError(f"collection {declaration.collection!r} declares its user data twice")
    _declared[declaration.collection] = declaration
    return declaration.collection


def personal(
    collection: str,
    *matches: Match,
    subcollections: tuple[str, ...] = (),
    omit: tuple[str, ...] = (),
    hide_id: bool = False,
) -> str:
    """Declare that `collection` holds users' data, found by `matches`. Returns the name, so it
    reads as a constant (and wraps `expires(...)`)."""
    if not matches:
        raise ValueError(f"say how {collection!r} names its user")
    return _declare(Declaration(collection, tuple(matches), tuple(subcollections), tuple(omit), hide_id))


def not_personal(collection: str, reason: str) -> str:
    """Declare that `collection` mentions users without being theirs (say why)."""
    return _declare(Declaration(collection, personal=False, reason=reason))


def declarations() -> list[Declaration]:
    """Every declaration of every area (imports them all: for the generator and the tests)."""
    from shared.registry import load_all

    load_all()
    return sorted(_declared.values(), key=lambda d: d.collection)


def manifest_document() -> dict[str, Any]:
    return {"collections": [d.to_json() for d in declarations()]}


@lru_cache(maxsize=1)
def manifest() -> list[Declaration]:
    """The generated declarations (`shared/data/userdata.json`), as the export reads them."""
    data = json.loads(MANIFEST.read_text())
    return [Declaration.from_json(d) for d in data["collections"]]


__all__ = [
    "Declaration",
    "Match",
    "array_field",
    "declarations",
    "doc_id",
    "doc_id_prefix",
    "field",
    "manifest",
    "manifest_document",
    "not_personal",
    "personal",
]
