"""The contact channels: sealed submissions, tracking codes, cases, the consular inbox and its key custody."""
