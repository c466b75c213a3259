"""School routes: schools (admins), their invitations and members (its school admins, admins),
and accepting an invitation (the invited user, signed in)."""

from __future__ import annotations

from functions.schools import service
from functions.schools.models import (
    AcceptIn,
    InvitationIn,
    InvitationOut,
    InvitationsPage,
    MemberPatch,
    MembersPage,
    MembersQuery,
    SchoolIn,
    SchoolOut,
    SchoolsPage,
)
from shared.accounts import UserOut
from shared.http import SIGNED_IN, Call, HttpFunction, Response, roles, school_admin_or_admin
from shared.store import Page
from shared.validation import PageQuery

ADMIN = roles("admin")
SCHOOL_ADMIN = school_admin_or_admin("school_id")

schools_route = HttpFunction("schools-list", "/api/v1/schools")
school_route = HttpFunction("schools-item", "/api/v1/schools/{school_id}")
invitations_route = HttpFunction("schools-invitations", "/api/v1/schools/{school_id}/invitations")
invitation_route = HttpFunction("schools-invitations-item", "/api/v1/schools/{school_id}/invitations/{invitation_id}")
accept_route = HttpFunction("schools-invitations-accept", "/api/v1/schools/invitations/accept")
members_route = HttpFunction("schools-members", "/api/v1/schools/{school_id}/members")
member_route = HttpFunction("schools-members-item", "/api/v1/schools/{school_id}/members/{user_id}")


@schools_route.post(ADMIN, body=SchoolIn, response=SchoolOut, status=201)
def create_school(call: Call[SchoolIn, None]) -> SchoolOut:
    """Create a school (admin); invite its school admins next."""
    return service.create_school(name=call.body.name, actor_id=call.user.user_id, client=call.client, now=call.now)


@schools_route.get(ADMIN, query=PageQuery, response=SchoolsPage)
def list_schools(call: Call[None, PageQuery]) -> Page:
    """Every school, newest first (admin)."""
    return service.list_schools(limit=call.query.limit, cursor=call.query.cursor)


@school_route.get(SCHOOL_ADMIN, response=SchoolOut)
def get_school(call: Call[None, None]) -> SchoolOut:
    """One school: its school admins, admins."""
    return service.get_school(call.params["school_id"])


@school_route.patch(SCHOOL_ADMIN, body=SchoolIn, response=SchoolOut)
def rename_school(call: Call[SchoolIn, None]) -> SchoolOut:
    """Rename the school: its school admins, admins."""
    return service.rename_school(
        call.params["school_id"], name=call.body.name, actor_id=call.user.user_id, client=call.client, now=call.now
    )


@invitations_route.post(SCHOOL_ADMIN, body=InvitationIn, response=InvitationOut, status=201, errors=(429,))
def invite(call: Call[InvitationIn, None]) -> InvitationOut:
    """Invite someone by mail as a student, teacher or school admin (single-use link, 7 days)."""
    return service.invite(
        call.params["school_id"],
        email=call.body.email,
        role=call.body.role,
        actor_id=call.user.user_id,
        client=call.client,
        now=call.now,
    )


@invitations_route.get(SCHOOL_ADMIN, query=PageQuery, response=InvitationsPage)
def pending_invitations(call: Call[None, PageQuery]) -> Page:
    """The school's pending invitations, soonest to expire first."""
    q = call.query
    return service.pending_invitations(call.params["school_id"], limit=q.limit, cursor=q.cursor, now=call.now)


@invitation_route.delete(SCHOOL_ADMIN, status=204)
def withdraw_invitation(call: Call[None, None]) -> Response:
    """Withdraw a pending invitation: its link stops working."""
    service.withdraw_invitation(
        call.params["school_id"],
        call.params["invitation_id"],
        actor_id=call.user.user_id,
        client=call.client,
        now=call.now,
    )
    return Response(status=204)


@accept_route.post(SIGNED_IN, body=AcceptIn, response=UserOut)
def accept(call: Call[AcceptIn, None]) -> UserOut:
    """Join the school of an invitation sent to the caller's address, with its role."""
    return service.accept_invitation(user_id=call.user.user_id, token=call.body.token, client=call.client, now=call.now)


@members_route.get(SCHOOL_ADMIN, query=MembersQuery, response=MembersPage)
def list_members(call: Call[None, MembersQuery]) -> Page:
    """The school's members, newest first (filter `role`)."""
    q = call.query
    return service.list_members(call.params["school_id"], role=q.role, limit=q.limit, cursor=q.cursor)


@member_route.patch(SCHOOL_ADMIN, body=MemberPatch, response=UserOut)
def set_member_role(call: Call[MemberPatch, None]) -> UserOut:
    """Give a member another role within the school."""
    return service.set_member_role(
        call.params["school_id"],
        call.params["user_id"],
        role=call.body.role,
        actor_id=call.user.user_id,
        client=call.client,
        now=call.now,
    )


@member_route.delete(SCHOOL_ADMIN, status=204)
def remove_member(call: Call[None, None]) -> Response:
    """Remove a member from the school: they keep their account, not the school."""
    service.remove_member(
        call.params["school_id"], call.params["user_id"], actor_id=call.user.user_id, client=call.client, now=call.now
    )
    return Response(status=204)
