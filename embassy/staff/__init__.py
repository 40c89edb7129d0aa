"""Staff accounts of the mission (the staff area itself comes with staff publishing)."""
