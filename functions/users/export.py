"""The export of everything the platform holds about one user (self or admin).

What to read comes from `shared/data/userdata.json`, generated from the declarations that each
area makes next to its collections (`shared/userdata.py`): this module names no collection of
any area, so a new area's data is exported as soon as it declares it, and a test fails when a
collection holding a user's data is declared neither way.

The body is streamed (`shared.http.Streamed`): documents are read a page at a time and sent as
they are read, so the function's memory does not grow with the user's history (docs/auth.md).

Reads: per collection one query for all its declared fields (at least one read, plus one per
document found), one lookup per declared document id, one query per id prefix, and one query per
subcollection of a document found; a query whose result fills whole pages of 500 reads one more
(the empty page that ends it).
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from google.cloud.firestore_v1.base_query import BaseFilter, FieldFilter, Or
from pydantic import BaseModel

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


# A streamed chunk is sent once it holds this much (fewer, larger writes to the socket).
_CHUNK_BYTES = 64 * 1024


def _documents(declaration: Declaration, user_id: str, email: str) -> Iterator[Any]:
    """The declaration's documents naming the user, each once: a lookup per declared id, one query
    for all its declared fields (a disjunction reads each document once), one per id prefix. The
    queries run a page at a time (`store.stream_in_pages`), so none is held whole."""
    collection = store.db().collection(declaration.collection)
    filters: list[BaseFilter] = []
    seen: set[str] = set()  # ids only: a document matched two ways is exported once
    for match in declaration.matches:
        value = email if match.email else user_id
        if match.kind == "doc_id":
            snapshot = collection.document(value).get()
            found: Iterable[Any] = [snapshot] if snapshot.exists else []
        elif match.kind in ("field", "array"):
            filters.append(FieldFilter(match.path, "==" if match.kind == "field" else "array_contains", value))
            continue
        else:  # doc_id_prefix: ids "<user id>_...", a range on the document name ("`" follows "_")
            query = collection.where(filter=FieldFilter("__name__", ">=", collection.document(f"{user_id}_")))
            found = store.stream_in_pages(
                query.where(filter=FieldFilter("__name__", "<", collection.document(f"{user_id}`")))
            )
        for snapshot in found:
            if snapshot.id not in seen:
                seen.add(snapshot.id)
                yield snapshot
    if filters:
        query = collection.where(filter=filters[0] if len(filters) == 1 else Or(filters))
        for snapshot in store.stream_in_pages(query):
            if snapshot.id not in seen:
                seen.add(snapshot.id)
                yield snapshot


def _open(document: BaseModel, suffix: str) -> str:
    """The JSON of `document` (built from its model) without its closing `suffix`, to be
    continued by streamed parts."""
    text = document.model_dump_json()
    assert text.endswith(suffix), text[-40:]
    return text[: -len(suffix)]


def _data(declaration: Declaration, snapshot: Any, owner: answers.Viewer) -> dict[str, Any]:
    """A stored document's exported fields: no answer key the user has not earned (shared.answers,
    judged for the user the export is about, whoever downloads it), nothing the declaration omits."""
    earned = answers.earned_only(owner, declaration.collection, snapshot.to_dict() or {})
    return dict(plain(without(earned, declaration.omit)))


def _exported(declaration: Declaration, snapshot: Any, owner: answers.Viewer) -> Iterator[str]:
    """One document as JSON parts: its fields, then each subcollection's documents as they are
    read, a page at a time."""
    document = ExportedDocument(
        id=None if declaration.hide_id else snapshot.id, data=_data(declaration, snapshot, owner)
    )
    if not declaration.subcollections:
        yield document.model_dump_json()
        return
    yield _open(document, "{}}") + "{"
    for i, name in enumerate(declaration.subcollections):
        yield ("," if i else "") + json.dumps(name) + ":["
        for j, child in enumerate(store.stream_in_pages(snapshot.reference.collection(name))):
            part = ExportedDocument(id=child.id, data=_data(declaration, child, owner))
            yield ("," if j else "") + part.model_dump_json()
        yield "]"
    yield "}}"


def stream_collections(owner: answers.Viewer, email: str, declarations: Iterable[Declaration]) -> Iterator[str]:
    """The JSON object `{<collection>: [document, ...], ...}` of every declared collection that
    names the user, in parts, as the documents are read."""
    yield "{"
    first = True
    for declaration in declarations:
        if not declaration.personal:
            continue
        yield ("" if first else ",") + json.dumps(declaration.collection) + ":["
        first = False
        for j, snapshot in enumerate(_documents(declaration, owner.user_id, email)):
            if j:
                yield ","
            yield from _exported(declaration, snapshot, owner)
        yield "]"
    yield "}"


def _chunked(parts: Iterable[str]) -> Iterator[str]:
    pending: list[str] = []
    size = 0
    for part in parts:
        pending.append(part)
        size += len(part)
        if size >= _CHUNK_BYTES:
            yield "".join(pending)
            pending, size = [], 0
    if pending:
        yield "".join(pending)


def export_user(*, actor_id: str, user_id: str, client: Client, now: datetime) -> Iterator[str]:
    """Everything held about the user as one JSON document (`ExportOut`), streamed: the checks,
    the rate limit and the audit entry happen at once, the documents are read while the body is
    sent, a page at a time, so memory stays flat whatever the user's history.
    Access: the route's guard (shared.http.self_or_admin)."""
    hit(EXPORTS_PER_CALLER, actor_id, now)
    user = store.db().collection(USERS).document(user_id).get().to_dict()
    if user is None:
        raise NotFound("No such user.")
    audit.record("user.exported", actor_id=actor_id, target_id=user_id, client=client, at=now)
    # The keys in it are those the user has earned, as their own role and school decide.
    owner = answers.Viewer(user_id=user_id, role=str(user.get("role") or "student"), school_id=user.get("school_id"))
    head = _open(ExportOut(user_id=user_id, generated_at=now, collections={}), "{}}")
    return _chunked(itertools.chain([head], stream_collections(owner, user["email"], manifest()), ["}"]))
