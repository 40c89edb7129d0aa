"""The virtual mission: public site, contact channels, staff publishing and the `embassy` command."""

__version__ = "0.1.0"
