"""The `embassy` command line."""
