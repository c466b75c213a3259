"""Names of the Firestore collections that more than one area reads. Each has one owner that
writes it (in brackets); the others only read, and import the name from here rather than the
owner's module, which keeps their cold start free of the owner's code.

Each also declares where it keeps a user's data (`shared/userdata.py`): the export reads that."""

from shared.userdata import doc_id, field, not_personal, personal

USERS = personal("users", doc_id(), omit=("password_hash",))  # accounts (auth)
USER_STATS = personal("user_stats", doc_id())  # learning stats (progress)
CLASSES = personal("classes", field("teacher_id"))  # classes (classes)
# who is in which class (classes)
MEMBERSHIPS = personal("class_memberships", field("student_id"), field("teacher_id"))
QUESTIONS = not_personal("questions", "the question bank")  # the question bank (exams)
EXAM_TYPES = not_personal("exam_types", "exam catalogue and counts")  # exam types with domain counts (exams)
EXAM_SESSIONS = personal("exam_sessions", field("user_id"))  # practice and exam sessions (exams)
EXERCISES = personal("exercises", field("author_id"))  # coding exercises (exercises)
SUBMISSIONS = personal("submissions", field("user_id"))  # graded code submissions (exercises)
PATHS = personal("paths", field("author_id"))  # learning paths, modules and lessons inline (paths)
# tutor chats, messages as a subcollection (chat)
CHAT_SESSIONS = personal("chat_sessions", field("user_id"), subcollections=("messages",))
# a learner's enrolment and lesson progress per path (paths)
PATH_ENROLLMENTS = personal("path_enrollments", field("user_id"))
# schools and their member counts; members are the users whose `school_id` names it (schools)
SCHOOLS = not_personal("schools", "a school and its counts; its members are users with its school_id")
