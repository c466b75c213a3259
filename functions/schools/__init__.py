"""Schools: schools and their school admins, invitations by mail, members re-roled and removed."""
