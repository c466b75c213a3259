"""The export of everything the platform holds about one user (self or admin).

What to read comes from `shared/data/userdata.json`, generated from the declarations that each
area makes next to its collections (`shared/userdata.py`): this module names no collection of
any area, so a new area's data is exported as soon as it declares it, and a test fails when a
collection holding a user's data is declared neither way.

Reads: per collection one query for all its declared fields (at least one read, plus one per
document found), one lookup per declared document id, one query per id prefix, and one query per
subcollection of a document found.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from google.cloud.firestore_v1.base_query import BaseFilter, FieldFilter, Or

from functions.users.models import ExportedDocument, ExportOut
from shared import answers, audit, store
from shared.audit import Client
from shared.collections import USERS
from shared.errors import NotFound
from shared.ratelimit import Limit, hit
from shared.userdata import Declaration, manifest

# An export reads every area: a few an hour per caller is plenty.
EXPORTS_PER_CALLER = Limit(name="user-export", max_hits=5, window_seconds=3600)
# Whatever a declaration says, a key that names a secret never leaves (defence in depth).
_SECRET_SUFFIXES = ("_hash", "_hashes", "password", "secret")


def plain(value: Any) -> Any:
    """A Firestore value as JSON: times in ISO 8601, references as paths, bytes in base64."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if not k.lower().endswith(_SECRET_SUFFIXES)}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if hasattr(value, "path") and hasattr(value, "id"):  # a DocumentReference
        return str(value.path)
    if hasattr(value, "latitude") and hasattr(value, "longitude"):
        return {"latitude": value.latitude, "longitude": value.longitude}
    return value


def without(data: dict[str, Any], omit: Iterable[str]) -> dict[str, Any]:
    """`data` without the dotted paths in `omit`."""
    data = dict(data)
    for path in omit:
        head, _, rest = path.partition(".")
        if rest and isinstance(data.get(head), dict):
            data[head] = without(data[head], [rest])
        else:
            data.pop(head, None)
    return data


def _found(declaration: Declaration, user_id: str, email: str) -> list[Any]:
    """The declaration's documents naming the user: a lookup per declared id, one query for all
    its declared fields (a disjunction reads each document once), one per id prefix."""
    collection = store.db().collection(declaration.collection)
    found: list[Any] = []
    filters: list[BaseFilter] = []
    for match in declaration.matches:
        value = email if match.email else user_id
        if match.kind == "doc_id":
            snapshot = collection.document(value).get()
            found.extend([snapshot] if snapshot.exists else [])
        elif match.kind in ("field", "array"):
            filters.append(FieldFilter(match.path, "==" if match.kind == "field" else "array_contains", value))
        else:  # doc_id_prefix: ids "<user id>_...", a range on the document name ("`" follows "_")
            query = collection.where(filter=FieldFilter("__name__", ">=", collection.document(f"{user_id}_")))
            found.extend(query.where(filter=FieldFilter("__name__", "<", collection.document(f"{user_id}`"))).stream())
    if filters:
        found.extend(collection.where(filter=filters[0] if len(filters) == 1 else Or(filters)).stream())
    return found


def _exported(
    declaration: Declaration, snapshot: Any, owner: answers.Viewer, *, subcollections: bool = True
) -> ExportedDocument:
    subs: dict[str, list[ExportedDocument]] = {}
    if subcollections:
        for name in declaration.subcollections:
            children = sorted(snapshot.reference.collection(name).stream(), key=lambda s: s.id)
            subs[name] = [_exported(declaration, child, owner, subcollections=False) for child in children]
    # No answer key the user has not earned (shared.answers), whoever downloads the export.
    earned = answers.earned_only(owner, declaration.collection, snapshot.to_dict() or {})
    return ExportedDocument(
        id=None if declaration.hide_id else snapshot.id,
        data=plain(without(earned, declaration.omit)),
        subcollections=subs,
    )


def collect(
    owner: answers.Viewer, email: str, declarations: Iterable[Declaration]
) -> dict[str, list[ExportedDocument]]:
    """Every document of the declared collections that names the user, by collection."""
    collections: dict[str, list[ExportedDocument]] = {}
    for declaration in declarations:
        if not declaration.personal:
            continue
        found = {snapshot.id: snapshot for snapshot in _found(declaration, owner.user_id, email)}
        collections[declaration.collection] = [_exported(declaration, found[key], owner) for key in sorted(found)]
    return collections


def export_user(*, actor_id: str, user_id: str, client: Client, now: datetime) -> ExportOut:
    """One JSON document of everything held about the user; a few an hour per caller.
    Access: the route's guard (shared.http.self_or_admin)."""
    hit(EXPORTS_PER_CALLER, actor_id, now)
    user = store.db().collection(USERS).document(user_id).get().to_dict()
    if user is None:
        raise NotFound("No such user.")
    # The keys in it are those the user has earned, as their own role and school decide.
    owner = answers.Viewer(user_id=user_id, role=str(user.get("role") or "student"), school_id=user.get("school_id"))
    collections = collect(owner, user["email"], manifest())
    audit.record(
        "user.exported",
        actor_id=actor_id,
        target_id=user_id,
        client=client,
        details={"documents": sum(len(docs) for docs in collections.values())},
        at=now,
    )
    return ExportOut(user_id=user_id, generated_at=now, collections=collections)
