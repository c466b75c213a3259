"""Users: the admin view of accounts and each user's own profile."""
