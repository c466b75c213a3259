"""Names of the Firestore collections that more than one area reads. Each has one owner that
writes it (in brackets); the others only read, and import the name from here rather than the
owner's module, which keeps their cold start free of the owner's code."""

USERS = "users"  # accounts (auth)
USER_STATS = "user_stats"  # learning stats (progress)
CLASSES = "classes"  # classes (classes)
MEMBERSHIPS = "class_memberships"  # who is in which class (classes)
