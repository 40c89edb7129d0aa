"""The aiohttp service: public site, contact channels, staff area and API."""
