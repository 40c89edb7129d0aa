"""The audit feature's table in the mission database: the hash-chained log of staff actions."""

from embassy.migrations import Feature

AUDIT = Feature(
    "audit",
    (
        # 1: one row per action; ``hash`` covers the row and the previous row's hash (chain.py)
        """
        CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY,
            time TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            detail TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        """,
    ),
)
