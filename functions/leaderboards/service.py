"""Leaderboards: one document per board, rebuilt on a schedule from indexed top-N queries.

A rebuild reads, per board, its top `TOP_N` entries and one count aggregation: the cost grows
with the boards and their size, never with the number of users. A read of a board costs a
constant number of documents: the board, the caller's stats, and (when the caller is outside
the top N) one count aggregation for their rank. Costs are in docs/progress.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath

from functions.leaderboards.models import EntryOut, LeaderboardOut, MyRankOut
from shared import store
from shared.access import class_of_teacher
from shared.auth import Principal
from shared.collections import MEMBERSHIPS, USER_STATS
from shared.errors import NotFound
from shared.logging import get_logger, log_fields
from shared.registry import composite_index
from shared.stats import LEADERBOARD_SCOPES
from shared.userdata import not_personal

log = get_logger("leaderboards")

BOARDS = not_personal("leaderboards", "rankings of many users, rebuilt from user_stats (exported)")
TOP_N = 100
_SCOPE = re.compile(r"^(global|exam:[A-Za-z0-9_.\-]{1,60}|class:[A-Za-z0-9_\-]{1,100})$")

# class:<id> boards: members of the class by XP.
composite_index(USER_STATS, ("class_ids", "CONTAINS"), ("xp", "DESCENDING"))


@dataclass(frozen=True)
class Board:
    scope: str
    kind: str  # global | exam | class
    key: str

    @property
    def metric(self) -> str:
        """The field ranked: total XP, or the XP earned in one exam type."""
        if self.kind == "exam":
            return FieldPath("exam_types", self.key, "xp").to_api_repr()
        return "xp"

    def base_query(self) -> Any:
        query: Any = store.db().collection(USER_STATS)
        if self.kind == "class":
            query = query.where(filter=FieldFilter("class_ids", "array_contains", self.key))
        return query

    def ranked(self, above: float = 0) -> Any:
        """Users whose metric is greater than `above` (0: everyone who has earned some XP)."""
        return self.base_query().where(filter=FieldFilter(self.metric, ">", above))

    def value(self, stats: dict[str, Any]) -> int:
        if self.kind == "exam":
            return int(stats.get("exam_types", {}).get(self.key, {}).get("xp", 0))
        if self.kind == "class" and self.key not in stats.get("class_ids", []):
            return 0
        return int(stats.get("xp", 0))


def parse_scope(scope: str) -> Board:
    if not _SCOPE.match(scope):
        raise NotFound("No such leaderboard.")
    kind, _, key = scope.partition(":")
    return Board(scope=scope, kind=kind, key=key)


def _count(query: Any) -> int:
    result = query.count().get()
    return int(result[0][0].value)


# Rebuilding ---------------------------------------------------------------------------------------------


def rank_entries(rows: list[tuple[str, str, int]]) -> list[dict[str, Any]]:
    """Competition ranking ("1224"): equal XP, equal rank. Rows come ordered by XP, descending."""
    entries: list[dict[str, Any]] = []
    for position, (user_id, name, xp) in enumerate(rows, start=1):
        rank = entries[-1]["rank"] if entries and entries[-1]["xp"] == xp else position
        entries.append({"user_id": user_id, "display_name": name, "xp": xp, "rank": rank})
    return entries


def rebuild_board(board: Board, now: datetime, top_n: int = TOP_N) -> dict[str, Any]:
    """Rebuild one board: a top-N indexed query, a count aggregation, one write."""
    snapshots = board.ranked().order_by(board.metric, direction=store.DESCENDING).limit(top_n).stream()
    rows = []
    for snapshot in snapshots:
        stats = snapshot.to_dict() or {}
        rows.append((snapshot.id, str(stats.get("display_name") or "Student"), board.value(stats)))
    entries = rank_entries(rows)
    total = len(entries) if len(entries) < top_n else _count(board.ranked())
    document = {
        "scope": board.scope,
        "kind": board.kind,
        "key": board.key,
        "entries": entries,
        "total_ranked": total,
        "rebuilt_at": now,
    }
    store.db().collection(BOARDS).document(board.scope).set(document)
    return document


def rebuild_all(now: datetime, top_n: int = TOP_N) -> int:
    """Rebuild `global` and every board registered in leaderboard_scopes. Returns the count."""
    scopes = ["global"] + [s.id for s in store.db().collection(LEADERBOARD_SCOPES).select([]).stream()]
    rebuilt = 0
    for scope in scopes:
        try:
            board = parse_scope(scope)
        except NotFound:
            log.warning("unusable leaderboard scope skipped", extra=log_fields(scope=scope))
            continue
        rebuild_board(board, now, top_n)
        rebuilt += 1
    log.info("leaderboards rebuilt", extra=log_fields(boards=rebuilt))
    return rebuilt


# Reading -------------------------------------------------------------------------------------------------


def require_board_access(principal: Principal, board: Board) -> None:
    """Global and exam boards: anyone signed in. A class board: its members, its teacher,
    admins; to anyone else it does not exist (one read)."""
    if board.kind != "class" or principal.is_admin:
        return
    db = store.db()
    if principal.is_staff:
        if class_of_teacher(principal, board.key) is not None:
            return
    else:
        membership = db.collection(MEMBERSHIPS).document(f"{board.key}_{principal.user_id}").get().to_dict()
        if membership is not None and membership.get("status") == "active":
            return
    raise NotFound("No such leaderboard.")


def my_rank(board: Board, principal: Principal, entries: list[dict[str, Any]]) -> MyRankOut | None:
    """The caller's rank: from the board when in the top N, else 1 + the number of users ranked
    above them (one count aggregation, billed as one read per 1,000 entries counted)."""
    for entry in entries:
        if entry["user_id"] == principal.user_id:
            return MyRankOut(user_id=principal.user_id, xp=entry["xp"], rank=entry["rank"])
    stats = store.db().collection(USER_STATS).document(principal.user_id).get().to_dict()
    if stats is None:
        return None
    value = board.value(stats)
    if value <= 0:
        return MyRankOut(user_id=principal.user_id, xp=0, rank=None)
    return MyRankOut(user_id=principal.user_id, xp=value, rank=_count(board.ranked(value)) + 1)


def get_board(principal: Principal, scope: str) -> LeaderboardOut:
    board = parse_scope(scope)
    require_board_access(principal, board)
    data = store.db().collection(BOARDS).document(board.scope).get().to_dict() or {}
    entries = list(data.get("entries", []))
    return LeaderboardOut(
        scope=board.scope,
        entries=[EntryOut(**e) for e in entries],
        total_ranked=int(data.get("total_ranked", 0)),
        rebuilt_at=data.get("rebuilt_at"),
        me=my_rank(board, principal, entries),
    )
