"""The data-embassy replication engine: a library with no web dependency.

Registry readers, chunking, packing, encryption, stores, snapshot manifests, backup, restore,
verify, repair, drills and retention. It uses :mod:`keys`; nothing here imports :mod:`embassy`.
"""
