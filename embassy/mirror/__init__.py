"""Static mirrors of the public site abroad (docs/commands.md "Static mirrors", docs/format.md §12).

``render`` crawls the real site in its mirror mode over loopback; ``paths`` names each URL's file
and makes links relative; ``manifest`` signs and checks the list of files (no I/O); ``targets``
are where a mirror lives (a store's ``mirror_bucket`` or ``mirror_path``); ``publish`` uploads
what changed and checks a mirror; ``run`` is one round and the continuous mode of ``serve``.
"""
