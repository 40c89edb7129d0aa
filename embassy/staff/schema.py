"""The staff feature's tables: accounts and their factors and tokens in the mission database
(replicated with it), sessions and sign-in throttling in a database of their own (not replicated:
they are short-lived, and restoring a backup must not bring old sessions back)."""

from embassy.migrations import Feature

STAFF = Feature(
    "staff",
    (
        # 1: several roles per account, one-time passwords, passkeys, TOTP with replay guard,
        # recovery codes and API tokens (secrets hashed). Accounts of the old one-role table are
        # kept, and their password counts as one-time: it was printed, so it must be changed.
        """
        CREATE TABLE staff_account (
            name TEXT PRIMARY KEY,
            password_hash TEXT NOT NULL,
            password_one_time INTEGER NOT NULL DEFAULT 1 CHECK (password_one_time IN (0, 1)),
            password_expires TEXT,
            disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
            created TEXT NOT NULL,
            last_sign_in TEXT,
            totp_secret TEXT,
            totp_last_step INTEGER,
            webauthn_user_id BLOB NOT NULL
        );
        INSERT INTO staff_account (name, password_hash, created, webauthn_user_id)
            SELECT name, password_hash, created, randomblob(32) FROM staff;
        CREATE TABLE staff_role (
            account TEXT NOT NULL REFERENCES staff_account(name) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'publisher', 'consular')),
            PRIMARY KEY (account, role)
        ) WITHOUT ROWID;
        INSERT INTO staff_role (account, role) SELECT name, role FROM staff;
        DROP TABLE staff;
        CREATE TABLE staff_passkey (
            credential_id BLOB PRIMARY KEY,
            account TEXT NOT NULL REFERENCES staff_account(name) ON DELETE CASCADE,
            public_key BLOB NOT NULL,
            sign_count INTEGER NOT NULL,
            label TEXT NOT NULL,
            created TEXT NOT NULL,
            last_used TEXT
        );
        CREATE INDEX staff_passkey_account ON staff_passkey(account);
        CREATE TABLE staff_recovery_code (
            code_hash BLOB PRIMARY KEY,
            account TEXT NOT NULL REFERENCES staff_account(name) ON DELETE CASCADE,
            created TEXT NOT NULL,
            used TEXT
        );
        CREATE INDEX staff_recovery_code_account ON staff_recovery_code(account);
        CREATE TABLE staff_token (
            id TEXT PRIMARY KEY,
            secret_hash BLOB NOT NULL,
            account TEXT NOT NULL REFERENCES staff_account(name) ON DELETE CASCADE,
            scopes TEXT NOT NULL,
            label TEXT NOT NULL,
            created TEXT NOT NULL,
            expires TEXT NOT NULL,
            revoked TEXT,
            last_used TEXT
        );
        CREATE INDEX staff_token_account ON staff_token(account);
        """,
    ),
)

SESSIONS_DB = "sessions.db"

SESSIONS = Feature(
    "sessions",
    (
        # 1: server-side sessions (only a hash of the cookie's id is kept) and sign-in throttling,
        # keyed by salted hashes of the names and addresses tried.
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
        INSERT INTO meta (key, value) VALUES ('salt', randomblob(32));
        CREATE TABLE session (
            id_hash BLOB PRIMARY KEY,
            public_id TEXT NOT NULL UNIQUE,
            account TEXT NOT NULL,
            stage TEXT NOT NULL CHECK (stage IN ('factor', 'password', 'enrol', 'full')),
            csrf TEXT NOT NULL,
            created REAL NOT NULL,
            last_seen REAL NOT NULL,
            expires REAL NOT NULL,
            authenticated REAL NOT NULL,
            address TEXT NOT NULL,
            device TEXT NOT NULL,
            challenge BLOB,
            challenge_expires REAL,
            factor_failures INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX session_account ON session(account);
        CREATE TABLE throttle (
            key BLOB PRIMARY KEY,
            failures INTEGER NOT NULL,
            last_failure REAL NOT NULL,
            locked_until REAL NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        """,
        # 2: an officer's unlocked keys for the session's life, sealed under a key that only the
        # officer's browser holds (embassy/contact/officer_session.py).
        "ALTER TABLE session ADD COLUMN inbox BLOB;",
    ),
)
