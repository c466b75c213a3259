"""The id-index of the question bank: which questions each exam type holds, by domain.

`question_index/{exam_type}:{k}` for k in 0..SHARDS-1 holds `domains {"1.1": [question_id, ...]}`
for the questions whose id hashes to shard k. Every change of the bank moves its entries with
`ArrayUnion` / `ArrayRemove` in the same commit as the question itself, so nothing is read to
keep it in step, and a session start learns the whole bank from SHARDS documents whose names it
knows beforehand: one `get_all`, whatever the bank's size.

Capacity: a document holds 1 MiB, so a shard holds ~15,000 of the longest (64-character) ids
and ~90,000 of ten-character ones; 4 shards carry a 50,000-question bank with room to spare.
The field is exempt from indexing (infra/firestore.indexes.json): an array of thousands of ids
must not cost thousands of index entries per write.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

from shared import store
from shared.registry import unindexed

INDEX = "question_index"
SHARDS = 4
unindexed(INDEX, "domains")


def shard_of(question_id: str) -> int:
    return zlib.crc32(question_id.encode()) % SHARDS


def shard_ref(exam_type: str, shard: int) -> Any:
    return store.db().collection(INDEX).document(f"{exam_type}:{shard}")


def shard_refs(exam_type: str) -> list[Any]:
    return [shard_ref(exam_type, k) for k in range(SHARDS)]


class IndexDelta:
    """Index changes of one commit, collected per shard and domain, then written as transforms."""

    def __init__(self, exam_type: str) -> None:
        self.exam_type = exam_type
        self.adds: dict[int, dict[str, set[str]]] = {}
        self.removes: dict[int, dict[str, set[str]]] = {}

    def add(self, question_id: str, domain: str) -> None:
        self.adds.setdefault(shard_of(question_id), {}).setdefault(domain, set()).add(question_id)

    def remove(self, question_id: str, domain: str) -> None:
        self.removes.setdefault(shard_of(question_id), {}).setdefault(domain, set()).add(question_id)

    def change(self, question_id: str, before: str | None, after: str | None) -> None:
        """A question moves from domain `before` to `after` (None: absent)."""
        if before == after:
            return
        if before is not None:
            self.remove(question_id, before)
        if after is not None:
            self.add(question_id, after)

    def conflicts(self) -> list[int]:
        """Shards where one domain both gains and loses ids: one field takes one transform, so
        the caller reads these shards (before its writes) and passes them to `write`."""
        return sorted(
            k
            for k, domains in self.removes.items()
            if any(domains.get(d) and self.adds.get(k, {}).get(d) for d in domains)
        )

    def write(self, writer: Any, current: dict[int, dict[str, list[str]]] | None = None) -> None:
        """Add the index writes to `writer` (a transaction or batch); `current` holds the
        conflicting shards as read in this transaction."""
        for k in sorted(set(self.adds) | set(self.removes)):
            adds, removes = self.adds.get(k, {}), self.removes.get(k, {})
            domains: dict[str, Any] = {}
            for domain in sorted(set(adds) | set(removes)):
                gained, lost = adds.get(domain, set()), removes.get(domain, set())
                if gained and lost:
                    have = set((current or {}).get(k, {}).get(domain, []))
                    domains[domain] = sorted((have - lost) | gained)
                elif gained:
                    domains[domain] = store.ArrayUnion(sorted(gained))
                elif lost:
                    domains[domain] = store.ArrayRemove(sorted(lost))
            writer.set(shard_ref(self.exam_type, k), {"exam_type": self.exam_type, "domains": domains}, merge=True)


def shard_domains(snapshot: Any) -> dict[str, list[str]]:
    """A shard's `domains`, from a snapshot read the ordinary way (small reads, transactions)."""
    data = snapshot.to_dict() if snapshot.exists else None
    return {d: list(ids) for d, ids in ((data or {}).get("domains") or {}).items()}


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
    value = document.fields.get("domains")
    if value is None:
        return {}
    return {d: [x.string_value for x in v.array_value.values] for d, v in value.map_value.fields.items()}


def merge(shards: Iterable[dict[str, list[str]]]) -> dict[str, list[str]]:
    """Domain -> question ids over all shards (empty domains dropped)."""
    out: dict[str, list[str]] = {}
    for domains in shards:
        for domain, ids in domains.items():
            if ids:
                out.setdefault(domain, []).extend(ids)
    return out
