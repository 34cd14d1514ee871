"""Versioned SQLite migrations, applied in order at start-up (PRAGMA user_version)."""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE users (
            id TEXT PRIMARY KEY,
            username TEXT NOT NULL UNIQUE,
            display_name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            avatar_url TEXT,
            status TEXT NOT NULL DEFAULT 'OFFLINE',
            last_seen TEXT,
            token_version INTEGER NOT NULL DEFAULT 0,
            role TEXT NOT NULL DEFAULT 'USER'
        );
        CREATE INDEX users_display_name ON users (lower(display_name));

        CREATE TABLE refresh_tokens (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            family_id TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            revoked_at TEXT
        );
        CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
        CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

        CREATE TABLE rooms (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            name_lower TEXT NOT NULL,
            description TEXT,
            is_private INTEGER NOT NULL,
            is_direct INTEGER NOT NULL,
            direct_key TEXT UNIQUE,
            created_by TEXT NOT NULL REFERENCES users (id),
            owner_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            last_activity TEXT NOT NULL,
            last_seq INTEGER NOT NULL DEFAULT 0,
            message_count INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX rooms_public ON rooms (is_private, is_direct, name_lower, id);

        CREATE TABLE memberships (
            room_id TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
            user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            joined_at TEXT NOT NULL,
            PRIMARY KEY (room_id, user_id)
        );
        CREATE INDEX memberships_user ON memberships (user_id);
        CREATE INDEX memberships_room_order ON memberships (room_id, joined_at, user_id);

        CREATE TABLE messages (
            id TEXT PRIMARY KEY,
            room_id TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
            author_id TEXT NOT NULL REFERENCES users (id),
            content TEXT NOT NULL,
            message_type TEXT NOT NULL,
            seq INTEGER NOT NULL,
            client_id TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (room_id, seq),
            UNIQUE (room_id, author_id, client_id)
        );
        CREATE INDEX messages_room_time ON messages (room_id, created_at);
        """,
    ),
    (
        2,
        """
        ALTER TABLE users ADD COLUMN current_room TEXT;

        ALTER TABLE memberships ADD COLUMN last_read_seq INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE memberships ADD COLUMN notifications_muted INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE memberships ADD COLUMN muted_until TEXT;

        ALTER TABLE messages ADD COLUMN reply_to_id TEXT REFERENCES messages (id);
        ALTER TABLE messages ADD COLUMN edited_at TEXT;
        ALTER TABLE messages ADD COLUMN deleted_at TEXT;
        ALTER TABLE messages ADD COLUMN deleted_by TEXT;
        CREATE INDEX messages_replies ON messages (reply_to_id, seq) WHERE reply_to_id IS NOT NULL;
        CREATE INDEX messages_unread ON messages (room_id, seq, author_id);

        CREATE TABLE reactions (
            room_id TEXT NOT NULL,
            message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
            user_id TEXT NOT NULL REFERENCES users (id),
            emoji TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (message_id, user_id, emoji)
        );
        CREATE INDEX reactions_by_emoji ON reactions (message_id, emoji, created_at);

        CREATE TABLE room_bans (
            room_id TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
            user_id TEXT NOT NULL REFERENCES users (id),
            banned_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            until TEXT,
            PRIMARY KEY (room_id, user_id)
        );

        CREATE TABLE connections (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            process_id TEXT NOT NULL,
            connected_at TEXT NOT NULL,
            heartbeat_at TEXT NOT NULL
        );
        CREATE INDEX connections_user ON connections (user_id);
        CREATE INDEX connections_process ON connections (process_id);
        CREATE INDEX connections_heartbeat ON connections (heartbeat_at);

        CREATE TABLE room_watches (
            connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
            room_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            PRIMARY KEY (connection_id, room_id)
        );
        CREATE INDEX room_watches_room ON room_watches (room_id);

        CREATE TABLE notifications (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users (id),
            type TEXT NOT NULL,
            created_at TEXT NOT NULL,
            room_id TEXT,
            message_id TEXT,
            actor_id TEXT,
            read_at TEXT
        );
        CREATE INDEX notifications_user ON notifications (user_id, created_at, id);
        """,
    ),
    (
        3,
        """
        CREATE TABLE room_restrictions (
            room_id TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
            user_id TEXT NOT NULL REFERENCES users (id),
            kind TEXT NOT NULL,
            banned_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            until TEXT,
            PRIMARY KEY (room_id, user_id, kind)
        );
        INSERT INTO room_restrictions (room_id, user_id, kind, banned_by, created_at, until)
            SELECT room_id, user_id, 'BAN', banned_by, created_at, until FROM room_bans;
        DROP TABLE room_bans;
        """,
    ),
    (
        4,
        """
        CREATE TABLE feed_positions (
            name TEXT PRIMARY KEY,
            token TEXT NOT NULL,
            saved_at TEXT NOT NULL
        );
        """,
    ),
    (
        5,
        """
        ALTER TABLE messages ADD COLUMN attachment_count INTEGER NOT NULL DEFAULT 0;

        CREATE TABLE uploads (
            id TEXT PRIMARY KEY,
            owner_id TEXT NOT NULL REFERENCES users (id),
            filename TEXT NOT NULL,
            declared_type TEXT NOT NULL,
            declared_size INTEGER NOT NULL,
            object_key TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            status TEXT NOT NULL,
            mime_type TEXT,
            size INTEGER,
            width INTEGER,
            height INTEGER,
            thumb_key TEXT,
            completed_at TEXT,
            used_for TEXT,
            message_id TEXT,
            position INTEGER NOT NULL DEFAULT 0,
            removed_at TEXT
        );
        CREATE INDEX uploads_message ON uploads (message_id, position) WHERE message_id IS NOT NULL;
        CREATE INDEX uploads_expiry ON uploads (status, expires_at);
        CREATE INDEX uploads_removed ON uploads (removed_at) WHERE removed_at IS NOT NULL;
        """,
    ),
    (
        6,
        """
        ALTER TABLE users ADD COLUMN email TEXT;
        ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE users ADD COLUMN terms_version TEXT;
        ALTER TABLE users ADD COLUMN terms_accepted_at TEXT;
        ALTER TABLE users ADD COLUMN expires_at TEXT;
        ALTER TABLE users ADD COLUMN deleted_at TEXT;
        CREATE UNIQUE INDEX users_email ON users (email) WHERE email IS NOT NULL;
        CREATE INDEX users_guest_expiry ON users (expires_at) WHERE expires_at IS NOT NULL;

        CREATE TABLE account_tokens (
            id TEXT PRIMARY KEY,
            purpose TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
            email TEXT,
            data TEXT,
            used_at TEXT
        );
        CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);
        CREATE INDEX account_tokens_expiry ON account_tokens (expires_at);

        CREATE TABLE identities (
            provider TEXT NOT NULL,
            subject TEXT NOT NULL,
            user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            email TEXT,
            PRIMARY KEY (provider, subject)
        );
        CREATE INDEX identities_user ON identities (user_id);

        CREATE TABLE username_holds (
            username TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            until TEXT NOT NULL
        );
        CREATE INDEX messages_author ON messages (author_id, id) WHERE deleted_at IS NULL;
        """,
    ),
    (
        7,
        """
        CREATE TABLE streams (
            id TEXT PRIMARY KEY,
            creator_id TEXT NOT NULL,
            room_id TEXT NOT NULL,
            title TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            description TEXT,
            category TEXT,
            category_key TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            scheduled_start TEXT,
            started_at TEXT,
            ended_at TEXT,
            key_version INTEGER NOT NULL DEFAULT 1,
            peak_viewers INTEGER NOT NULL DEFAULT 0,
            has_recording INTEGER NOT NULL DEFAULT 0,
            has_thumbnail INTEGER NOT NULL DEFAULT 0,
            ingest_node TEXT
        );
        CREATE INDEX streams_recent ON streams (created_at DESC, id DESC);
        CREATE INDEX streams_creator ON streams (creator_id, created_at DESC, id DESC);
        CREATE INDEX streams_status ON streams (status, created_at DESC, id DESC);
        CREATE INDEX streams_category ON streams (category_key, created_at DESC, id DESC);

        CREATE TABLE follows (
            follower_id TEXT NOT NULL,
            followee_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (follower_id, followee_id)
        );
        CREATE INDEX follows_followee ON follows (followee_id, follower_id);
        CREATE INDEX follows_followee_time ON follows (followee_id, created_at);

        CREATE TABLE stream_ratings (
            stream_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            rating INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            comment TEXT,
            PRIMARY KEY (stream_id, user_id)
        );
        CREATE INDEX stream_ratings_user ON stream_ratings (user_id);

        CREATE TABLE stream_watches (
            id TEXT PRIMARY KEY,
            stream_id TEXT NOT NULL,
            viewer_id TEXT NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT NOT NULL,
            seconds REAL NOT NULL
        );
        CREATE INDEX stream_watches_stream ON stream_watches (stream_id, viewer_id);

        CREATE TABLE stream_samples (
            stream_id TEXT NOT NULL,
            at TEXT NOT NULL,
            viewers INTEGER NOT NULL,
            PRIMARY KEY (stream_id, at)
        );
        ALTER TABLE notifications ADD COLUMN stream_id TEXT;
        """,
    ),
    (
        8,
        """
        ALTER TABLE users ADD COLUMN is_bot INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE messages ADD COLUMN is_streaming INTEGER NOT NULL DEFAULT 0;

        CREATE TABLE assistant_turns (
            id TEXT PRIMARY KEY,
            room_id TEXT NOT NULL,
            asker_id TEXT NOT NULL,
            claimed_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            reply_id TEXT
        );
        CREATE INDEX assistant_turns_reply ON assistant_turns (reply_id)
            WHERE reply_id IS NOT NULL;
        """,
    ),
    (
        9,
        """
        -- Unread counts filter on deleted_at as well, so this index never covered them: the
        -- unique (room_id, seq) index finds the same rows, and every message wrote one B-tree
        -- more for it.
        DROP INDEX IF EXISTS messages_unread;
        """,
    ),
    (
        10,
        """
        -- History before a time is found by a binary search over (room_id, seq), since a
        -- message's created_at never goes back along its room's seq (see last_seq_before):
        -- every message wrote this B-tree too, about a tenth of the CPU of a send's write.
        DROP INDEX IF EXISTS messages_room_time;
        """,
    ),
    (
        11,
        """
        -- UNIQUE (room_id, author_id, client_id) indexed every message, though only a send
        -- with a clientId ever looks it up: API clients and bots that send none wrote a B-tree
        -- for nothing (as much CPU as this whole index costs). A partial unique index keeps the
        -- idempotency of the sends that have one, as MongoDB's `client_id` index does. SQLite
        -- cannot drop a table's constraint, so the table is rebuilt (REBUILDS: foreign keys
        -- are off while it runs, or dropping the old table would delete its reactions).
        CREATE TABLE messages_rebuilt (
            id TEXT PRIMARY KEY,
            room_id TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
            author_id TEXT NOT NULL REFERENCES users (id),
            content TEXT NOT NULL,
            message_type TEXT NOT NULL,
            seq INTEGER NOT NULL,
            client_id TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            reply_to_id TEXT REFERENCES messages (id),
            edited_at TEXT,
            deleted_at TEXT,
            deleted_by TEXT,
            attachment_count INTEGER NOT NULL DEFAULT 0,
            is_streaming INTEGER NOT NULL DEFAULT 0,
            UNIQUE (room_id, seq)
        );
        INSERT INTO messages_rebuilt (
            id, room_id, author_id, content, message_type, seq, client_id, created_at,
            updated_at, reply_to_id, edited_at, deleted_at, deleted_by, attachment_count,
            is_streaming
        )
        SELECT
            id, room_id, author_id, content, message_type, seq, client_id, created_at,
            updated_at, reply_to_id, edited_at, deleted_at, deleted_by, attachment_count,
            is_streaming
        FROM messages ORDER BY rowid;
        DROP TABLE messages;
        ALTER TABLE messages_rebuilt RENAME TO messages;
        CREATE UNIQUE INDEX messages_client ON messages (room_id, author_id, client_id)
            WHERE client_id IS NOT NULL;
        CREATE INDEX messages_replies ON messages (reply_to_id, seq) WHERE reply_to_id IS NOT NULL;
        CREATE INDEX messages_author ON messages (author_id, id) WHERE deleted_at IS NULL;
        """,
    ),
)
# Migrations that rebuild a table: run with foreign keys off (a no-op inside a transaction,
# so set before it begins), and no row may lose what it refers to.
REBUILDS = frozenset({11})

LATEST_VERSION = MIGRATIONS[-1][0]


class SchemaTooNew(Exception):
    """The database was migrated by a newer ChatQL: this one must not write to it."""


def pending_versions(current: int) -> list[int]:
    """The migrations a database at `current` (its PRAGMA user_version) still needs."""
    if current > LATEST_VERSION:
        raise SchemaTooNew(
            f"the database's schema version {current} is newer than this ChatQL knows "
            f"({LATEST_VERSION}): run the newer ChatQL, or restore a backup taken before upgrading"
        )
    return [version for version, _script in MIGRATIONS if version > current]


def apply_migrations(conn: sqlite3.Connection) -> list[int]:
    """Apply the numbered migrations this database has not seen yet, each atomically
    (`BEGIN IMMEDIATE` also makes two processes migrating at once take turns)."""
    applied = []
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    pending_versions(current)
    for version, script in MIGRATIONS:
        if version > current:
            if version in REBUILDS:
                _rebuild(conn, version, script)
            else:
                conn.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;"
                )
            current = int(conn.execute("PRAGMA user_version").fetchone()[0])
            applied.append(version)
    return applied


class MigrationFailed(Exception):
    """A migration would have left the database inconsistent; nothing of it was kept."""


def _rebuild(conn: sqlite3.Connection, version: int, script: str) -> None:
    """One table-rebuilding migration, atomically, with foreign keys off while it runs and
    checked before it commits (statement by statement: `executescript` would commit first)."""
    conn.execute("PRAGMA foreign_keys=OFF")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if int(conn.execute("PRAGMA user_version").fetchone()[0]) < version:
                # compared, not required empty: a reference broken before must not block it
                before = conn.execute("PRAGMA foreign_key_check").fetchall()
                for statement in _statements(script):
                    conn.execute(statement)
                after = conn.execute("PRAGMA foreign_key_check").fetchall()
                if len(after) > len(before):
                    broken = [tuple(row) for row in after[:5]]
                    raise MigrationFailed(f"migration {version} would break references: {broken}")
                conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute("PRAGMA foreign_keys=ON")


def _statements(script: str) -> list[str]:
    """A script's statements, each whole (SQLite says when one is complete)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip() and not pending.strip().startswith("--"):
        raise ValueError(f"incomplete statement in a migration: {pending!r}")
    return statements
