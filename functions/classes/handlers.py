"""Class routes: a teacher's classes and rosters, joining by code, student account requests
(teacher asks, admin decides) and the teacher dashboard."""

from __future__ import annotations

from functions.classes import service
from functions.classes.models import (
    AdminRequestListQuery,
    ClassIn,
    ClassListQuery,
    ClassOut,
    ClassPage,
    ClassPatch,
    DashboardOut,
    DashboardQuery,
    JoinIn,
    MembershipOut,
    RejectIn,
    RequestListQuery,
    RosterPage,
    StudentRequestIn,
    StudentRequestOut,
    StudentRequestPage,
)
from shared.auth import STAFF_ROLES
from shared.http import Call, HttpFunction, Response, roles, student_self, teacher_self_or_admin
from shared.store import Page
from shared.validation import PageQuery

TEACHER = roles(*STAFF_ROLES)
TEACHER_OR_ADMIN = roles(*STAFF_ROLES, "admin")
ADMIN = roles("admin")

create_route = HttpFunction("classes-create", "/api/v1/teachers/classes")
teacher_classes_route = HttpFunction("classes-teacher-list", "/api/v1/teachers/{teacher_id}/classes")
class_route = HttpFunction("classes-item", "/api/v1/classes/{class_id}")
roster_route = HttpFunction("classes-roster", "/api/v1/classes/{class_id}/students")
member_route = HttpFunction("classes-roster-member", "/api/v1/classes/{class_id}/students/{student_id}")
join_route = HttpFunction("classes-join", "/api/v1/students/{student_id}/classes/join")
request_create_route = HttpFunction("classes-requests-create", "/api/v1/teachers/student-requests")
teacher_requests_route = HttpFunction("classes-teacher-requests", "/api/v1/teachers/{teacher_id}/student-requests")
requests_route = HttpFunction("classes-requests", "/api/v1/student-requests")
approve_route = HttpFunction("classes-requests-approve", "/api/v1/student-requests/{request_id}/approve")
reject_route = HttpFunction("classes-requests-reject", "/api/v1/student-requests/{request_id}/reject")
dashboard_route = HttpFunction("classes-dashboard", "/api/v1/teachers/{teacher_id}/dashboard")


@create_route.post(TEACHER, body=ClassIn, response=ClassOut, status=201, errors=(503,))
def create_class(call: Call[ClassIn, None]) -> ClassOut:
    """Create a class with a unique join code."""
    body = call.body
    return service.create_class(
        teacher_id=call.user.user_id,
        name=body.name,
        subject=body.subject,
        description=body.description,
        grade_levels=body.grade_levels,
        now=call.now,
        school_id=call.user.school_id,
    )


@teacher_classes_route.get(teacher_self_or_admin("teacher_id"), query=ClassListQuery, response=ClassPage)
def list_classes(call: Call[None, ClassListQuery]) -> Page:
    """A teacher's classes, newest first (`status` active or archived)."""
    q = call.query
    return service.list_classes(call.params["teacher_id"], status=q.status, limit=q.limit, cursor=q.cursor)


@class_route.get(TEACHER_OR_ADMIN, response=ClassOut)
def get_class(call: Call[None, None]) -> ClassOut:
    """One of the caller's classes."""
    return service.get_class(call.params["class_id"], call.user)


@class_route.patch(TEACHER_OR_ADMIN, body=ClassPatch, response=ClassOut, errors=(409,))
def update_class(call: Call[ClassPatch, None]) -> ClassOut:
    """Edit name, subject, description or grade levels (the join code stays)."""
    changes = call.body.model_dump(exclude_unset=True)
    return service.update_class(call.params["class_id"], call.user, changes, call.now)


@class_route.delete(TEACHER_OR_ADMIN, status=204)
def archive_class(call: Call[None, None]) -> Response:
    """Archive the class: it keeps its roster but can no longer be joined."""
    service.archive_class(call.params["class_id"], call.user, call.now)
    return Response(status=204)


@roster_route.get(TEACHER_OR_ADMIN, query=PageQuery, response=RosterPage)
def roster(call: Call[None, PageQuery]) -> Page:
    """The class's students, in joining order."""
    return service.roster(call.params["class_id"], call.user, limit=call.query.limit, cursor=call.query.cursor)


@member_route.delete(TEACHER_OR_ADMIN, status=204)
def remove_student(call: Call[None, None]) -> Response:
    """Remove a student from the class."""
    service.remove_student(call.params["class_id"], call.params["student_id"], call.user, call.now)
    return Response(status=204)


@join_route.post(student_self("student_id"), body=JoinIn, response=MembershipOut, status=201, errors=(409,))
def join(call: Call[JoinIn, None]) -> MembershipOut:
    """Join a class with its code (case and spaces forgiven)."""
    return service.join_class(call.params["student_id"], call.body.class_code, call.now)


@request_create_route.post(TEACHER, body=StudentRequestIn, response=StudentRequestOut, status=201, errors=(404, 409))
def request_student(call: Call[StudentRequestIn, None]) -> StudentRequestOut:
    """Ask an admin for a student account, enrolled in one of the caller's classes."""
    body = call.body
    return service.create_student_request(
        call.user,
        first_name=body.first_name,
        last_name=body.last_name,
        email=body.email,
        class_id=body.class_id,
        grade_level=body.grade_level,
        now=call.now,
    )


@teacher_requests_route.get(teacher_self_or_admin("teacher_id"), query=RequestListQuery, response=StudentRequestPage)
def teacher_requests(call: Call[None, RequestListQuery]) -> Page:
    """A teacher's student account requests, newest first."""
    q = call.query
    return service.list_teacher_requests(call.params["teacher_id"], status=q.status, limit=q.limit, cursor=q.cursor)


@requests_route.get(ADMIN, query=AdminRequestListQuery, response=StudentRequestPage)
def list_requests(call: Call[None, AdminRequestListQuery]) -> Page:
    """Student account requests by status (pending first of all), newest first."""
    q = call.query
    return service.list_requests(status=q.status, limit=q.limit, cursor=q.cursor)


@approve_route.post(ADMIN, response=StudentRequestOut, errors=(409,))
def approve(call: Call[None, None]) -> StudentRequestOut:
    """Approve: create the student's account, enrol it, mail a set-password link."""
    return service.approve_request(call.params["request_id"], call.user.user_id, call.now)


@reject_route.post(ADMIN, body=RejectIn, response=StudentRequestOut, errors=(409,))
def reject(call: Call[RejectIn, None]) -> StudentRequestOut:
    """Reject a pending request, with an optional reason for the teacher."""
    return service.reject_request(call.params["request_id"], call.user.user_id, call.body.reason, call.now)


@dashboard_route.get(teacher_self_or_admin("teacher_id"), query=DashboardQuery, response=DashboardOut)
def dashboard(call: Call[None, DashboardQuery]) -> DashboardOut:
    """Per active class: students, who was active in 7 days, average exam score, weakest domains."""
    q = call.query
    return service.dashboard(call.params["teacher_id"], limit=q.limit, cursor=q.cursor, now=call.now)
