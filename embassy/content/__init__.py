"""The mission's content: pages and news in every language, signed statements, search.

Stored in the mission's own database (``<data_dir>/mission.db``), which the default config lists
as the registry ``mission-site`` so it is replicated like any state registry. Nothing here knows
about the web: the site reads a :class:`~embassy.content.model.Snapshot` and renders it.
"""

from embassy.content.errors import ContentError, StatementError
from embassy.content.model import NewsItem, Page, Snapshot, Translation

__all__ = ["ContentError", "NewsItem", "Page", "Snapshot", "StatementError", "Translation"]
