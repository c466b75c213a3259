"""The id-index of the question bank: which questions each exam type holds, by domain.

`question_index/{exam_type}:{k}` for k in 0..SHARDS-1 holds `domains {"1.1": [group, ...]}` for
the questions of shard k (a question's `index_shard`: its import chunk's number mod SHARDS, so a
chunk touches one shard; else the crc32 of its id), where a group is a space-joined string of ids
(ids never hold spaces): the ids one commit added to that domain. Adding is an `ArrayUnion` of
one new group in the same commit as the questions, so nothing is read to keep the index in step;
removing (a delete, a domain change) reads the shard in the transaction and rewrites that
domain's groups. A session start learns the whole bank from SHARDS documents whose names it
knows beforehand: one `get_all`, whatever the bank's size.

Groups rather than one array element per id: Firestore (and its emulator) re-index an array
element by element on every write, and splitting a few thousand strings is far cheaper to
decode than 50,000 array values.

Capacity: a document holds 1 MiB, so a shard holds ~15,000 of the longest (64-character) ids
and ~90,000 of ten-character ones; 4 shards carry a 50,000-question bank with room to spare.
The field is exempt from indexing (infra/firestore.indexes.json).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

from shared import store, userdata
from shared.registry import unindexed

INDEX = userdata.not_personal("question_index", "ids of the question bank")
SHARDS = 4
unindexed(INDEX, "domains")


def shard_of(question_id: str) -> int:
    """Where a question created one at a time goes (an import puts a whole chunk in one shard)."""
    return zlib.crc32(question_id.encode()) % SHARDS


def shard_of_doc(data: dict[str, Any]) -> int:
    """The shard holding a stored question: its `index_shard`, else the hash rule."""
    shard = data.get("index_shard")
    return int(shard) if shard is not None else shard_of(data["question_id"])


def shard_ref(exam_type: str, shard: int) -> Any:
    return store.db().collection(INDEX).document(f"{exam_type}:{shard}")


def shard_refs(exam_type: str) -> list[Any]:
    return [shard_ref(exam_type, k) for k in range(SHARDS)]


class IndexDelta:
    """Index changes of one commit, collected per shard and domain."""

    def __init__(self, exam_type: str) -> None:
        self.exam_type = exam_type
        self.adds: dict[int, dict[str, set[str]]] = {}
        self.removes: dict[int, dict[str, set[str]]] = {}

    def add(self, question_id: str, domain: str, shard: int) -> None:
        self.adds.setdefault(shard, {}).setdefault(domain, set()).add(question_id)

    def remove(self, question_id: str, domain: str, shard: int) -> None:
        self.removes.setdefault(shard, {}).setdefault(domain, set()).add(question_id)

    def change(self, question_id: str, before: str | None, after: str | None, shard: int) -> None:
        """A question of `shard` moves from domain `before` to `after` (None: absent)."""
        if before == after:
            return
        if before is not None:
            self.remove(question_id, before, shard)
        if after is not None:
            self.add(question_id, after, shard)

    def needs_read(self) -> list[int]:
        """Shards that lose ids: the caller reads them in its transaction, before its writes."""
        return sorted(k for k, domains in self.removes.items() if any(domains.values()))

    def read(self, txn: Any) -> dict[int, dict[str, list[str]]]:
        """The shards `write` must rewrite, read in `txn` (nothing when nothing is removed)."""
        shards = self.needs_read()
        if not shards:
            return {}
        snapshots = store.db().get_all([shard_ref(self.exam_type, k) for k in shards], transaction=txn)
        return {int(s.id.rsplit(":", 1)[1]): shard_domains(s) for s in snapshots}

    def write(self, writer: Any, current: dict[int, dict[str, list[str]]] | None = None) -> None:
        """Add the index writes to `writer` (a transaction or batch); `current`: what `read` gave."""
        for k in sorted(set(self.adds) | set(self.removes)):
            adds, removes = self.adds.get(k, {}), self.removes.get(k, {})
            domains: dict[str, Any] = {}
            for domain in sorted(set(adds) | set(removes)):
                gained, lost = adds.get(domain, set()), removes.get(domain, set())
                group = [" ".join(sorted(gained))] if gained else []
                if lost:
                    kept = []
                    for old in (current or {}).get(k, {}).get(domain, []):
                        ids = [q for q in old.split() if q not in lost]
                        if ids:
                            kept.append(" ".join(ids))
                    domains[domain] = kept + group
                elif group:
                    domains[domain] = store.ArrayUnion(group)
            writer.set(shard_ref(self.exam_type, k), {"exam_type": self.exam_type, "domains": domains}, merge=True)


def shard_domains(snapshot: Any) -> dict[str, list[str]]:
    """A shard's `domains` as stored (groups), from a snapshot read the ordinary way."""
    data = snapshot.to_dict() if snapshot.exists else None
    return {d: list(groups) for d, groups in ((data or {}).get("domains") or {}).items()}


def ids_of(domains: dict[str, list[str]]) -> dict[str, list[str]]:
    """Domain -> question ids, from domain -> groups."""
    return {d: " ".join(groups).split() for d, groups in domains.items()}


def read_raw(paths: Iterable[str]) -> dict[str, Any]:
    """Documents by path, as raw protobuf `Document`s (missing ones absent), in one get_all.

    The client decodes an array value by value in Python (~90 ms for 50,000 ids); reading the
    protobuf directly takes a quarter of that. Reads are metered like any other get_all."""
    client = store.db()
    found: dict[str, Any] = {}
    request = {"database": client._database_string, "documents": list(paths)}
    for response in client._firestore_api.batch_get_documents(request=request, metadata=client._rpc_metadata):
        pb = response._pb
        if pb.HasField("found"):
            found[pb.found.name] = pb.found
    return found


def raw_domains(document: Any) -> dict[str, list[str]]:
    """`domains` of a raw shard document: domain -> question ids."""
    if "domains" not in document.fields:
        return {}
    fields = document.fields["domains"].map_value.fields
    return {d: " ".join(x.string_value for x in v.array_value.values).split() for d, v in fields.items()}


def merge(shards: Iterable[dict[str, list[str]]]) -> dict[str, list[str]]:
    """Domain -> question ids over all shards (each domain -> ids; empty domains dropped)."""
    out: dict[str, list[str]] = {}
    for domains in shards:
        for domain, ids in domains.items():
            if ids:
                out.setdefault(domain, []).extend(ids)
    return out
