"""Names of the Firestore collections that more than one area reads. Each has one owner that
writes it (in brackets); the others only read, and import the name from here rather than the
owner's module, which keeps their cold start free of the owner's code."""

USERS = "users"  # accounts (auth)
USER_STATS = "user_stats"  # learning stats (progress)
CLASSES = "classes"  # classes (classes)
MEMBERSHIPS = "class_memberships"  # who is in which class (classes)
QUESTIONS = "questions"  # the question bank (exams)
EXAM_TYPES = "exam_types"  # exam types with domain counts (exams)
EXAM_SESSIONS = "exam_sessions"  # practice and exam sessions (exams)
EXERCISES = "exercises"  # coding exercises (exercises)
SUBMISSIONS = "submissions"  # graded code submissions (exercises)
PATHS = "paths"  # learning paths, modules and lessons inline (paths)
CHAT_SESSIONS = "chat_sessions"  # tutor chats, messages as a subcollection (chat)
PATH_ENROLLMENTS = "path_enrollments"  # a learner's enrolment and lesson progress per path (paths)
