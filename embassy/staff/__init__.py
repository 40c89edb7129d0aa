"""Staff identity: accounts and roles, passwords, second factors (passkeys, TOTP, recovery codes),
sessions, sign-in throttling and API tokens. No web code here: the staff area
(embassy/web/staff/), the API (embassy/web/api/) and the CLI (`embassy staff`) use it."""
