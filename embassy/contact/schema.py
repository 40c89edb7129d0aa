"""The contact feature's tables in the mission database (replicated with it: ciphertext only).

In clear: routing metadata (channel, type, language, received and updated times, status,
priority, the review flag, the assigned officer), sizes, public keys and KDF parameters. Every
message, contact detail, attachment and reply is a sealed envelope (keys/sealing.py); tracking
codes are never stored, only their Argon2id lookup value and public key (keys/case_keys.py).
"""

from embassy.migrations import Feature

CONTACT = Feature(
    "contact",
    (
        # 1: inbox keys and their grants, officer keys, cases and their sealed messages and
        # attachments, spent form nonces, the notification outbox.
        """
        CREATE TABLE contact_meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
        INSERT INTO contact_meta (key, value) VALUES ('code_salt', randomblob(16));
        CREATE TABLE inbox_key (
            id TEXT PRIMARY KEY,
            public BLOB NOT NULL,
            created TEXT NOT NULL,
            current INTEGER NOT NULL CHECK (current IN (0, 1)),
            recovery_id TEXT NOT NULL,
            recovery_public BLOB NOT NULL,
            recovery_wrap BLOB NOT NULL,
            recovery_threshold INTEGER NOT NULL,
            recovery_shares INTEGER NOT NULL
        );
        CREATE UNIQUE INDEX inbox_key_current ON inbox_key(current) WHERE current = 1;
        CREATE TABLE officer_key (
            account TEXT PRIMARY KEY REFERENCES staff_account(name) ON DELETE CASCADE,
            public BLOB NOT NULL,
            wrapped BLOB NOT NULL,
            kdf TEXT NOT NULL,
            created TEXT NOT NULL
        );
        CREATE TABLE inbox_grant (
            inbox_key TEXT NOT NULL REFERENCES inbox_key(id),
            account TEXT NOT NULL REFERENCES staff_account(name) ON DELETE CASCADE,
            officer_key BLOB NOT NULL,
            wrapped BLOB NOT NULL,
            granted_by TEXT NOT NULL,
            created TEXT NOT NULL,
            PRIMARY KEY (inbox_key, account)
        ) WITHOUT ROWID;
        CREATE TABLE contact_case (
            id TEXT PRIMARY KEY,
            lookup BLOB NOT NULL UNIQUE,
            code_public BLOB NOT NULL,
            code_kdf TEXT NOT NULL,
            inbox_key TEXT NOT NULL REFERENCES inbox_key(id),
            channel TEXT NOT NULL CHECK (channel IN ('emergency', 'consular', 'general')),
            type TEXT NOT NULL,
            lang TEXT NOT NULL,
            priority INTEGER NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('new', 'in_progress', 'waiting', 'closed')),
            review INTEGER NOT NULL DEFAULT 0 CHECK (review IN (0, 1)),
            assigned TEXT,
            received TEXT NOT NULL,
            updated TEXT NOT NULL,
            closed TEXT
        );
        CREATE INDEX contact_case_queue ON contact_case(status, priority, received);
        CREATE INDEX contact_case_closed ON contact_case(closed) WHERE closed IS NOT NULL;
        CREATE TABLE contact_message (
            id INTEGER PRIMARY KEY,
            case_id TEXT NOT NULL REFERENCES contact_case(id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('inquiry', 'followup', 'reply')),
            author TEXT NOT NULL,
            sealed BLOB NOT NULL,
            created TEXT NOT NULL
        );
        CREATE INDEX contact_message_case ON contact_message(case_id, id);
        CREATE TABLE contact_attachment (
            id INTEGER PRIMARY KEY,
            case_id TEXT NOT NULL REFERENCES contact_case(id) ON DELETE CASCADE,
            message_id INTEGER NOT NULL REFERENCES contact_message(id) ON DELETE CASCADE,
            sealed BLOB NOT NULL,
            size INTEGER NOT NULL,
            created TEXT NOT NULL
        );
        CREATE INDEX contact_attachment_case ON contact_attachment(case_id);
        CREATE TABLE contact_spent (nonce BLOB PRIMARY KEY, expires REAL NOT NULL) WITHOUT ROWID;
        CREATE TABLE contact_outbox (
            id INTEGER PRIMARY KEY,
            case_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            created TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt REAL NOT NULL,
            sent TEXT,
            last_error TEXT
        );
        CREATE INDEX contact_outbox_due ON contact_outbox(next_attempt) WHERE sent IS NULL;
        CREATE TRIGGER officer_key_reset AFTER UPDATE OF password_hash ON staff_account
            WHEN NEW.password_one_time = 1 AND OLD.password_hash != NEW.password_hash
        BEGIN
            DELETE FROM inbox_grant WHERE account = NEW.name;
            DELETE FROM officer_key WHERE account = NEW.name;
        END;
        """,
    ),
)
