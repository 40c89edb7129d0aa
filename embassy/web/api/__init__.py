"""The staff JSON API at /api/v1/: bearer tokens only (never cookies), JSON errors."""
