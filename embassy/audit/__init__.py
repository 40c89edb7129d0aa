"""The staff audit log: every staff action, appended to a hash chain in the mission database.

What the chain proves, what the snapshots abroad add, and what neither can prove: docs/web.md,
"The audit log".
"""

from embassy.audit.chain import GENESIS, ChainBreak, Entry, entry_hash, verify_chain
from embassy.audit.log import append, entries, head, record, transaction

__all__ = ["GENESIS", "ChainBreak", "Entry", "append", "entries", "entry_hash", "head", "record", "transaction", "verify_chain"]
