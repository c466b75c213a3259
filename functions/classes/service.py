"""Classes: the teacher's side of the platform. Plain values in and out; see docs/classes.md.

Firestore layout:
  classes/{id}                          the class (teacher_id, name, subject, class_code,
                                        status active|archived, student_count counter)
  class_codes/{code}                    uniqueness of the join code, created in the same
                                        transaction as the class
  class_memberships/{class}_{student}   {class_id, student_id, teacher_id, joined_at, status
                                        active|removed} plus the student's names for the roster
  student_requests/{id}                 a teacher's request for a student account; approval
                                        also writes auth's password_resets and mail documents
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc

from functions.classes.models import (
    ActiveStudent,
    ClassDashboard,
    ClassOut,
    DashboardOut,
    DomainStat,
    MembershipOut,
    RosterEntry,
    StudentRequestOut,
)
from shared import accounts, password_mail, store
from shared.access import require_class_teacher
from shared.auth import Principal, new_id
from shared.collections import CLASSES, MEMBERSHIPS, SCHOOLS, USER_STATS, USERS
from shared.emails import email_key
from shared.errors import Conflict, NotFound, ServiceUnavailable
from shared.event_types import CLASS_JOINED, CLASS_LEFT, ClassMembershipChanged
from shared.events import StagedEvent, publish_in
from shared.logging import get_logger, log_fields
from shared.registration import create_account
from shared.registry import composite_index
from shared.store import eq
from shared.userdata import field, personal

log = get_logger("classes")

CLASS_CODES = personal("class_codes", field("teacher_id"))

STUDENT_REQUESTS = personal(
    "student_requests", field("teacher_id"), field("student_id"), field("email", email=True), field("decided_by")
)

# Join codes: SUBJ-XXX-XXX. No 0/O, 1/I/L: a code read aloud or off a board is typed right.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_ATTEMPTS = 8
ACTIVE_WINDOW = timedelta(days=7)
DASHBOARD_ROSTER_CAP = 100
WEAKEST_DOMAINS = 3

# Queries and the composite indexes they need (declared next to them).
composite_index(CLASSES, ("teacher_id", "ASCENDING"), ("status", "ASCENDING"), ("created_at", "DESCENDING"))
composite_index(MEMBERSHIPS, ("class_id", "ASCENDING"), ("status", "ASCENDING"), ("joined_at", "ASCENDING"))
composite_index(STUDENT_REQUESTS, ("teacher_id", "ASCENDING"), ("created_at", "DESCENDING"))
composite_index(STUDENT_REQUESTS, ("teacher_id", "ASCENDING"), ("status", "ASCENDING"), ("created_at", "DESCENDING"))
composite_index(STUDENT_REQUESTS, ("status", "ASCENDING"), ("created_at", "DESCENDING"))


def _col(name: str) -> Any:
    return store.db().collection(name)


def membership_id(class_id: str, student_id: str) -> str:
    return f"{class_id}_{student_id}"


# Join codes ------------------------------------------------------------------------------------


def code_prefix(subject: str) -> str:
    """The subject's first four ASCII letters, upper-cased (`Mathematics` -> `MATH`)."""
    letters = re.sub(r"[^A-Za-z]", "", subject).upper()
    return letters[:4] if len(letters) >= 2 else "CLSS"


def random_suffix() -> str:
    chars = "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))
    return f"{chars[:3]}-{chars[3:]}"


def new_class_code(subject: str) -> str:
    return f"{code_prefix(subject)}-{random_suffix()}"


def normalize_code(raw: str) -> str:
    """What a student typed, as stored: case and every space forgiven."""
    return re.sub(r"\s+", "", raw).upper()


# Classes ---------------------------------------------------------------------------------------


def class_out(class_id: str, data: dict[str, Any]) -> ClassOut:
    return ClassOut(id=class_id, **{k: data.get(k) for k in ClassOut.model_fields if k != "id" and k in data})


def create_class(
    *,
    teacher_id: str,
    name: str,
    subject: str,
    description: str,
    grade_levels: list[int],
    now: datetime,
    school_id: str | None = None,
) -> ClassOut:
    """A class with a fresh join code. `class_codes/{code}` and the class are *created* in one
    atomic batch (a write-only transaction): if the code exists the whole batch fails with
    AlreadyExists and nothing is written, so of two classes drawing the same code only one
    commits; the other draws again. No read, so no contention either. A teacher of a school
    makes a class of that school (`school_id`), counted on the school in the same batch."""
    class_id = new_id()
    data: dict[str, Any] = {
        "teacher_id": teacher_id,
        "school_id": school_id,
        "name": name,
        "subject": subject,
        "description": description,
        "grade_levels": grade_levels,
        "status": "active",
        "student_count": 0,
        "created_at": now,
        "updated_at": now,
        "archived_at": None,
    }
    for _ in range(CODE_ATTEMPTS):
        code = new_class_code(subject)
        batch = store.db().batch()
        claim = {"class_id": class_id, "teacher_id": teacher_id, "created_at": now}
        batch.create(_col(CLASS_CODES).document(code), claim)
        batch.create(_col(CLASSES).document(class_id), {**data, "class_code": code})
        if school_id:
            batch.update(_col(SCHOOLS).document(school_id), {"class_count": store.Increment(1)})
        try:
            batch.commit()
        except gexc.AlreadyExists:
            log.info("class code collision; drawing again", extra=log_fields(class_id=class_id))
            continue
        data["class_code"] = code
        log.info("class created", extra=log_fields(class_id=class_id, teacher_id=teacher_id))
        return class_out(class_id, data)
    raise ServiceUnavailable("Could not find a free class code; try again.")


def _load_class(class_id: str, principal: Principal, *, txn: store.Transaction | None = None) -> dict[str, Any]:
    """The class, if the caller owns it (or is an admin); else 404 (shared/access.py)."""
    return require_class_teacher(principal, class_id, txn=txn)


def get_class(class_id: str, principal: Principal) -> ClassOut:
    return class_out(class_id, _load_class(class_id, principal))


def list_classes(teacher_id: str, *, status: str, limit: int, cursor: str | None) -> store.Page:
    query = _col(CLASSES).where(filter=eq("teacher_id", teacher_id)).where(filter=eq("status", status))
    return store.paginate(
        query,
        _col(CLASSES),
        [("created_at", store.DESCENDING)],
        limit,
        cursor,
        lambda s: class_out(s.id, s.to_dict() or {}),
    )


def update_class(class_id: str, principal: Principal, changes: dict[str, Any], now: datetime) -> ClassOut:
    ref = _col(CLASSES).document(class_id)

    def update(txn: store.Transaction) -> dict[str, Any]:
        data = _load_class(class_id, principal, txn=txn)
        if data.get("status") != "active":
            raise Conflict("An archived class cannot be edited.")
        txn.update(ref, {**changes, "updated_at": now})
        return {**data, **changes, "updated_at": now}

    return class_out(class_id, store.run_transaction(update))


def archive_class(class_id: str, principal: Principal, now: datetime) -> None:
    """Archive (never delete): the roster and its history stay, the code stops admitting."""
    ref = _col(CLASSES).document(class_id)

    def archive(txn: store.Transaction) -> None:
        data = _load_class(class_id, principal, txn=txn)
        if data.get("status") == "archived":
            return
        txn.update(ref, {"status": "archived", "archived_at": now, "updated_at": now})
        if data.get("school_id"):  # the school counts its active classes
            txn.update(_col(SCHOOLS).document(data["school_id"]), {"class_count": store.Increment(-1)})

    store.run_transaction(archive)
    log.info("class archived", extra=log_fields(class_id=class_id))


# Joining and the roster ------------------------------------------------------------------------


def _membership(
    class_id: str, class_data: dict[str, Any], student_id: str, user: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "class_id": class_id,
        "student_id": student_id,
        "teacher_id": class_data["teacher_id"],
        "joined_at": now,
        "status": "active",
        "removed_at": None,
        # Denormalized for the roster and dashboard (one read per row instead of two); the
        # student profile's PATCH keeps them current.
        "first_name": user.get("first_name", ""),
        "last_name": user.get("last_name", ""),
        "grade_level": user.get("grade_level"),
    }


def join_class(student_id: str, raw_code: str, now: datetime) -> MembershipOut:
    """Join by code. No transaction: the membership is *created* (fails if it exists) in one
    atomic batch with a blind `Increment` of the class's counter, so a whole classroom joining
    at once does not contend on the class document. The cost: a join racing the class's
    archiving by milliseconds may still land (documented in docs/classes.md)."""
    code = normalize_code(raw_code)
    if not re.fullmatch(r"[A-Z0-9-]{3,40}", code):
        raise NotFound("No class has this code.")
    code_doc = _col(CLASS_CODES).document(code).get().to_dict()
    if code_doc is None:
        raise NotFound("No class has this code.")
    class_id = code_doc["class_id"]
    class_ref = _col(CLASSES).document(class_id)
    member_ref = _col(MEMBERSHIPS).document(membership_id(class_id, student_id))
    user_ref = _col(USERS).document(student_id)
    found = {s.reference.path: s.to_dict() for s in store.db().get_all([class_ref, member_ref, user_ref])}
    class_data, existing = found.get(class_ref.path), found.get(member_ref.path)
    if class_data is None:
        raise NotFound("No class has this code.")
    if class_data.get("status") != "active":
        raise Conflict("This class is archived and cannot be joined.")
    if existing is not None:
        if existing.get("status") == "active":
            raise Conflict("You are already in this class.")
        raise Conflict("Your teacher removed you from this class; ask them to add you again.")
    membership = _membership(class_id, class_data, student_id, found.get(user_ref.path) or {}, now)
    batch = store.db().batch()
    batch.create(member_ref, membership)
    batch.update(class_ref, {"student_count": store.Increment(1)})
    joined = publish_in(
        batch, CLASS_JOINED, ClassMembershipChanged(user_id=student_id, class_id=class_id), occurred_at=now
    )
    try:
        batch.commit()
    except gexc.AlreadyExists as exc:
        raise Conflict("You are already in this class.") from exc
    joined.send()
    log.info("class joined", extra=log_fields(class_id=class_id, user_id=student_id))
    return MembershipOut(
        class_id=class_id,
        student_id=student_id,
        teacher_id=class_data["teacher_id"],
        name=class_data["name"],
        subject=class_data["subject"],
        status="active",
        joined_at=membership["joined_at"],
    )


def roster_entry(data: dict[str, Any]) -> RosterEntry:
    return RosterEntry(
        student_id=data["student_id"],
        first_name=data.get("first_name", ""),
        last_name=data.get("last_name", ""),
        grade_level=data.get("grade_level"),
        joined_at=data["joined_at"],
    )


def _active_members(class_id: str) -> Any:
    return _col(MEMBERSHIPS).where(filter=eq("class_id", class_id)).where(filter=eq("status", "active"))


def roster(class_id: str, principal: Principal, *, limit: int, cursor: str | None) -> store.Page:
    _load_class(class_id, principal)
    return store.paginate(
        _active_members(class_id),
        _col(MEMBERSHIPS),
        [("joined_at", store.ASCENDING)],
        limit,
        cursor,
        lambda s: roster_entry(s.to_dict() or {}),
    )


def remove_student(class_id: str, student_id: str, principal: Principal, now: datetime) -> None:
    class_ref = _col(CLASSES).document(class_id)
    member_ref = _col(MEMBERSHIPS).document(membership_id(class_id, student_id))

    _load_class(class_id, principal)

    event_id = new_id()  # the same event whichever attempt commits

    # Only the membership is read in the transaction: the counter is a blind Increment, so a
    # removal does not contend with students joining at the same moment.
    def remove(txn: store.Transaction) -> StagedEvent:
        member = member_ref.get(transaction=txn).to_dict()
        if member is None or member.get("status") != "active":
            raise NotFound("This student is not in the class.")
        txn.update(member_ref, {"status": "removed", "removed_at": now})
        txn.update(class_ref, {"student_count": store.Increment(-1)})
        left = ClassMembershipChanged(user_id=student_id, class_id=class_id)
        return publish_in(txn, CLASS_LEFT, left, occurred_at=now, event_id=event_id)

    store.run_transaction(remove).send()
    log.info("student removed from class", extra=log_fields(class_id=class_id, user_id=student_id))


# Student account requests ----------------------------------------------------------------------


def request_out(request_id: str, data: dict[str, Any]) -> StudentRequestOut:
    return StudentRequestOut(
        id=request_id, **{k: data.get(k) for k in StudentRequestOut.model_fields if k != "id" and k in data}
    )


def create_student_request(
    principal: Principal,
    *,
    first_name: str,
    last_name: str,
    email: str,
    class_id: str,
    grade_level: int | None,
    now: datetime,
) -> StudentRequestOut:
    class_data = _load_class(class_id, principal)
    if class_data.get("status") != "active":
        raise Conflict("This class is archived.")
    if _col(accounts.USER_EMAILS).document(email_key(email)).get().exists:
        raise Conflict("An account with this email already exists; ask the student to join with the class code.")
    pending = _col(STUDENT_REQUESTS).where(filter=eq("email", email)).where(filter=eq("status", "pending")).limit(1)
    if list(pending.stream()):
        raise Conflict("A request for this email is already waiting for approval.")
    request_id = new_id()
    data = {
        "teacher_id": class_data["teacher_id"],
        "requested_by": principal.user_id,
        "class_id": class_id,
        "class_name": class_data["name"],
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "grade_level": grade_level,
        "status": "pending",
        "created_at": now,
        "decided_at": None,
        "decided_by": None,
        "reason": None,
        "student_id": None,
    }
    _col(STUDENT_REQUESTS).document(request_id).create(data)
    log.info("student account requested", extra=log_fields(request_id=request_id, class_id=class_id))
    return request_out(request_id, data)


def _request_page(query: Any, limit: int, cursor: str | None) -> store.Page:
    return store.paginate(
        query,
        _col(STUDENT_REQUESTS),
        [("created_at", store.DESCENDING)],
        limit,
        cursor,
        lambda s: request_out(s.id, s.to_dict() or {}),
    )


def list_teacher_requests(teacher_id: str, *, status: str | None, limit: int, cursor: str | None) -> store.Page:
    query = _col(STUDENT_REQUESTS).where(filter=eq("teacher_id", teacher_id))
    if status:
        query = query.where(filter=eq("status", status))
    return _request_page(query, limit, cursor)


def list_requests(*, status: str, limit: int, cursor: str | None) -> store.Page:
    return _request_page(_col(STUDENT_REQUESTS).where(filter=eq("status", status)), limit, cursor)


def approve_request(request_id: str, admin_id: str, now: datetime) -> StudentRequestOut:
    """Create the account (no password yet), enrol it and queue the welcome mail with its
    set-password link (`create_password_reset`), in one transaction."""
    request_ref = _col(STUDENT_REQUESTS).document(request_id)
    user_id = new_id()
    snapshot = request_ref.get()
    if not snapshot.exists:
        raise NotFound("No such request.")
    class_ref = _col(CLASSES).document((snapshot.to_dict() or {})["class_id"])
    # Read outside the transaction (like a join) so approvals do not contend with joins.
    class_data = class_ref.get().to_dict()
    if class_data is None or class_data.get("status") != "active":
        raise Conflict("The class of this request is archived; reject the request instead.")

    registered_id, joined_id = new_id(), new_id()  # the same events whichever attempt commits

    def approve(txn: store.Transaction) -> tuple[dict[str, Any], list[StagedEvent]]:
        request = request_ref.get(transaction=txn).to_dict() or {}
        if request.get("status") != "pending":
            raise Conflict(f"This request is already {request.get('status')}.")
        user = accounts.new_user(
            email=request["email"],
            first_name=request["first_name"],
            last_name=request["last_name"],
            role="student",
            grade_level=request.get("grade_level"),
            password_hash=None,
            now=now,
        )
        registered = create_account(txn, user_id, user, now, event_id=registered_id)  # its read, then its writes
        txn.create(
            _col(MEMBERSHIPS).document(membership_id(request["class_id"], user_id)),
            _membership(request["class_id"], class_data, user_id, user, now),
        )
        txn.update(class_ref, {"student_count": store.Increment(1)})
        decided = {"status": "approved", "decided_at": now, "decided_by": admin_id, "student_id": user_id}
        txn.update(request_ref, decided)
        # The welcome mail commits with the account: a failure cannot leave one without the other.
        password_mail.create_password_reset(user_id, user["email"], now, purpose="welcome", writer=txn)
        staged = [
            registered,
            publish_in(
                txn,
                CLASS_JOINED,
                ClassMembershipChanged(user_id=user_id, class_id=request["class_id"]),
                occurred_at=now,
                event_id=joined_id,
            ),
        ]
        return {**request, **decided}, staged

    try:
        request, staged = store.run_transaction(approve)
    except gexc.AlreadyExists as exc:
        raise Conflict("An account with this email already exists.") from exc
    for event in staged:
        event.send()
    log.info("student request approved", extra=log_fields(request_id=request_id, user_id=user_id))
    return request_out(request_id, request)


def reject_request(request_id: str, admin_id: str, reason: str, now: datetime) -> StudentRequestOut:
    ref = _col(STUDENT_REQUESTS).document(request_id)

    def reject(txn: store.Transaction) -> dict[str, Any]:
        request = ref.get(transaction=txn).to_dict()
        if request is None:
            raise NotFound("No such request.")
        if request.get("status") != "pending":
            raise Conflict(f"This request is already {request.get('status')}.")
        decided = {"status": "rejected", "decided_at": now, "decided_by": admin_id, "reason": reason or None}
        txn.update(ref, decided)
        return {**request, **decided}

    result = store.run_transaction(reject)
    log.info("student request rejected", extra=log_fields(request_id=request_id))
    return request_out(request_id, result)


# Dashboard -------------------------------------------------------------------------------------


def _class_dashboard(
    class_id: str, data: dict[str, Any], stats_of: Callable[[list[str]], dict[str, dict[str, Any]]], now: datetime
) -> ClassDashboard:
    members = [
        s.to_dict() or {}
        for s in _active_members(class_id)
        .order_by("joined_at", direction=store.ASCENDING)
        .limit(DASHBOARD_ROSTER_CAP)
        .stream()
    ]
    stats = stats_of([m["student_id"] for m in members])
    since = now - ACTIVE_WINDOW
    active: list[ActiveStudent] = []
    exams = 0
    score_total = 0.0
    domains: dict[str, list[int]] = {}
    for member in members:
        stat = stats.get(member["student_id"]) or {}
        last_active = stat.get("last_active_at")
        if isinstance(last_active, datetime) and last_active >= since:
            active.append(
                ActiveStudent(
                    student_id=member["student_id"],
                    first_name=member.get("first_name", ""),
                    last_name=member.get("last_name", ""),
                    last_active_at=last_active,
                )
            )
        exams += int(stat.get("exams_completed") or 0)
        score_total += float(stat.get("exam_score_total") or 0)
        for key, counts in (stat.get("domains") or {}).items():
            if not isinstance(counts, dict):
                continue
            total = domains.setdefault(key, [0, 0])
            total[0] += int(counts.get("answered") or 0)
            total[1] += int(counts.get("correct") or 0)
    weakest = sorted(
        (
            DomainStat(
                exam_type=key.split("|", 1)[0] if "|" in key else "",
                domain=key.split("|", 1)[-1],
                answered=answered,
                correct=correct,
                accuracy=round(correct / answered, 4),
            )
            for key, (answered, correct) in domains.items()
            if answered > 0
        ),
        key=lambda d: (d.accuracy, -d.answered, d.exam_type, d.domain),
    )[:WEAKEST_DOMAINS]
    active.sort(key=lambda a: a.last_active_at, reverse=True)
    return ClassDashboard(
        class_id=class_id,
        name=data["name"],
        subject=data["subject"],
        class_code=data["class_code"],
        student_count=int(data.get("student_count") or 0),
        students_considered=len(members),
        active_last_7_days=len(active),
        active_students=active,
        exams_completed=exams,
        average_exam_score=round(score_total / exams, 2) if exams else None,
        weakest_domains=weakest,
    )


def _stats_of(student_ids: list[str]) -> dict[str, dict[str, Any]]:
    """One batched read of the students' `user_stats` (kept by the progress area)."""
    if not student_ids:
        return {}
    refs = [_col(USER_STATS).document(sid) for sid in student_ids]
    return {s.id: s.to_dict() or {} for s in store.db().get_all(refs) if s.exists}


def dashboard(teacher_id: str, *, limit: int, cursor: str | None, now: datetime) -> DashboardOut:
    """A page of the teacher's active classes, each summarized from its students' stats.

    Reads: (classes on the page + 1) + per class, its active memberships and their stats
    (each at most DASHBOARD_ROSTER_CAP)."""
    page = list_classes(teacher_id, status="active", limit=limit, cursor=cursor)
    ids = [c.id for c in page.items]
    items = []
    for class_id, klass in zip(ids, page.items, strict=True):
        items.append(_class_dashboard(class_id, klass.model_dump(), _stats_of, now))
    return DashboardOut(teacher_id=teacher_id, generated_at=now, items=items, next_cursor=page.next_cursor)
