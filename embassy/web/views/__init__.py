"""Request handlers, one module per concern: the public pages, feeds, machine endpoints, staff."""
