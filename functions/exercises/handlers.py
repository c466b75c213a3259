"""Coding exercises: authoring, submissions graded in the WebAssembly sandbox, history,
teacher evaluation. Decisions and budgets in docs/exercises.md."""

from __future__ import annotations

from functions.exercises import grading, service, submissions
from functions.exercises.models import (
    EvaluationIn,
    ExerciseIn,
    ExerciseListQuery,
    ExerciseOut,
    SubmissionIn,
    SubmissionListQuery,
    SubmissionOut,
    SubmissionQueuedOut,
)
from shared import store
from shared.auth import STAFF_ROLES
from shared.event_types import CLASS_JOINED, CLASS_LEFT, SUBMISSION_CREATED, ClassMembershipChanged, SubmissionCreated
from shared.events import Event, subscriber
from shared.http import SIGNED_IN, Call, HttpFunction, Response, roles, student_data
from shared.validation import PageQuery

STAFF = roles(*STAFF_ROLES, "admin")
# Routes that run the sandbox (a solution is checked against its tests on create and update)
# ship the interpreter, fetched from PyPI into the deploy's copy of the source, and its module
# compiled there for a baseline CPU (every instance loads it: no compile on a first grading).
SANDBOX_PREPARE = (
    "pip install --quiet \"$(grep '^wasmtime==' requirements.txt)\""
    " && python functions/exercises/sandbox/assets.py --dest .wasm --compile"
    " && sed -i '/^\\.wasm\\/$/d' .gitignore"
)
SANDBOX_MEMORY = "2Gi"

exercises_route = HttpFunction(
    "exercises-list", "/api/v1/exercises", memory=SANDBOX_MEMORY, timeout_seconds=300, prepare=SANDBOX_PREPARE
)
exercise_route = HttpFunction(
    "exercises-item",
    "/api/v1/exercises/{exercise_id}",
    memory=SANDBOX_MEMORY,
    timeout_seconds=300,
    prepare=SANDBOX_PREPARE,
)
exercise_submissions_route = HttpFunction(
    "exercises-exercise-submissions", "/api/v1/exercises/{exercise_id}/submissions"
)
submit_route = HttpFunction("exercises-submit", "/api/v1/submissions")
submission_route = HttpFunction("exercises-submission", "/api/v1/submissions/{submission_id}")
evaluate_route = HttpFunction("exercises-evaluate", "/api/v1/submissions/{submission_id}/evaluate")
student_submissions_route = HttpFunction("exercises-student-submissions", "/api/v1/students/{student_id}/submissions")


# Exercises -------------------------------------------------------------------------------------


@exercises_route.get(SIGNED_IN, query=ExerciseListQuery, response=ExerciseOut)
def list_exercises(call: Call[None, ExerciseListQuery]) -> store.Page:
    """Exercises, newest first, filtered by `topic` and `difficulty` (students: no solutions, no hidden tests)."""
    q = call.query
    return service.list_exercises(q.topic, q.difficulty, q.limit, q.cursor, call.user)


@exercises_route.post(STAFF, body=ExerciseIn, response=ExerciseOut, status=201)
def create_exercise(call: Call[ExerciseIn, None]) -> ExerciseOut:
    """Author an exercise (teachers, admins); a solution given must pass every test (else 422)."""
    return service.create_exercise(call.body.model_dump(), call.user, call.now)


@exercise_route.get(SIGNED_IN, response=ExerciseOut)
def read_exercise(call: Call[None, None]) -> ExerciseOut:
    """One exercise (students: no solution, hidden tests show only name and weight)."""
    return service.get_exercise(call.params["exercise_id"], call.user)


@exercise_route.put(STAFF, body=ExerciseIn, response=ExerciseOut)
def replace_exercise(call: Call[ExerciseIn, None]) -> ExerciseOut:
    """Replace an exercise (its author or an admin)."""
    return service.update_exercise(call.params["exercise_id"], call.body.model_dump(), call.user, call.now)


@exercise_route.delete(STAFF, status=204)
def delete_exercise(call: Call[None, None]) -> Response:
    """Delete an exercise (its author or an admin); submissions stay."""
    service.delete_exercise(call.params["exercise_id"], call.user)
    return Response(status=204)


@exercise_submissions_route.get(STAFF, query=PageQuery, response=SubmissionOut)
def exercise_submissions(call: Call[None, PageQuery]) -> store.Page:
    """An exercise's submissions, newest first: all for its author and admins, a teacher's own students' otherwise."""
    q = call.query
    return submissions.list_exercise_submissions(call.params["exercise_id"], call.user, q.limit, q.cursor)


# Submissions -----------------------------------------------------------------------------------


@submit_route.post(SIGNED_IN, body=SubmissionIn, response=SubmissionQueuedOut, status=202, errors=(404, 429))
def submit(call: Call[SubmissionIn, None]) -> SubmissionQueuedOut:
    """Submit code for grading (202; graded asynchronously). Rate-limited per user."""
    b = call.body
    return submissions.create_submission(call.user.user_id, b.exercise_id, b.code, call.now)


@submission_route.get(SIGNED_IN, response=SubmissionOut)
def read_submission(call: Call[None, None]) -> SubmissionOut:
    """One submission: its author, a teacher of the author's class, an admin (others 404)."""
    return submissions.get_submission(call.params["submission_id"], call.user)


@evaluate_route.put(STAFF, body=EvaluationIn, response=SubmissionOut, errors=(409,))
def evaluate(call: Call[EvaluationIn, None]) -> SubmissionOut:
    """Override the score with feedback (a teacher of the author's class, an admin); `auto_score` keeps the grader's."""
    b = call.body
    return submissions.evaluate(call.params["submission_id"], call.user, b.score, b.feedback, call.now)


@student_submissions_route.get(student_data("student_id"), query=SubmissionListQuery, response=SubmissionOut)
def student_submissions(call: Call[None, SubmissionListQuery]) -> store.Page:
    """A student's submissions, newest first, optionally of one exercise (the student, their teachers, admins)."""
    student_id = call.params["student_id"]
    q = call.query
    return submissions.list_student_submissions(student_id, q.exercise_id, q.limit, q.cursor)


# Grading ---------------------------------------------------------------------------------------


@subscriber(
    "exercises-grade",
    topic=SUBMISSION_CREATED,
    timeout_seconds=540,
    service_account="studyhall-grader",
    max_instances=20,
    concurrency=1,
    memory=SANDBOX_MEMORY,
    prepare=SANDBOX_PREPARE,
)
def grade(event: Event) -> None:
    """Grade a submission in the sandbox, once per submission, and publish `submission.graded`."""
    grading.grade(event.data_as(SubmissionCreated).submission_id, store.now())


@subscriber("exercises-sweep", topic="jobs.exercises-sweep", schedule="*/5 * * * *")
def sweep(event: Event) -> None:
    """End submissions stuck in queued or running past their deadline as internal_error."""
    grading.sweep(store.now())


@subscriber("exercises-on-class-joined", topic=CLASS_JOINED)
def on_class_joined(event: Event) -> None:
    """The student's submissions now show in their new teacher's lists."""
    submissions.refresh_classes(event.data_as(ClassMembershipChanged).user_id)


@subscriber("exercises-on-class-left", topic=CLASS_LEFT)
def on_class_left(event: Event) -> None:
    """The student's submissions leave the lists of a teacher they no longer have."""
    submissions.refresh_classes(event.data_as(ClassMembershipChanged).user_id)
