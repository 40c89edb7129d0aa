"""The staff area, mounted at /staff/: sign-in, one's account, sessions, API tokens, admin pages."""
