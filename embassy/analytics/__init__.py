"""Public-diplomacy analytics without personal data.

Page views are counted per page, language and day. Unique visitors per day are counted by a keyed
hash of (IP address, User-Agent) under a secret salt that exists for one day only: the salt lives
in ``<data_dir>/analytics/salt/`` (outside the replicated mission database, shared by the workers)
and the file of every earlier day is deleted, so yesterday's hashes can no longer be linked to
anyone. No IP address, User-Agent or cookie is stored. Requests whose User-Agent looks automated
are counted apart as bots.

Counts go to ``<data_dir>/analytics/analytics.db``, which is not a registry: it is statistics that
change every few seconds, and churning the replicated mission database with them would make every
snapshot carry new pages. The daily hashes are reduced to a count once their day is over.
"""
