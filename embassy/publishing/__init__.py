"""The editorial workflow: items with a line of editions per language, moved from draft to published
by two people, signed as statements when published, scheduled, withdrawn, removed; uploaded images.

Everything here is synchronous and takes an open mission-database connection: the web layer runs it
on its database thread, the demo seed and the tests call it directly. Each operation is one
``BEGIN IMMEDIATE`` transaction holding the change, its signed statement, the search index and its
audit-log entry; after the commit the content version is bumped so every serving process shows it.
"""
