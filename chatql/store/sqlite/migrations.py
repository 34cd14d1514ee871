"""Versioned SQLite migrations, applied in order at start-up (PRAGMA user_version)."""

from __future__ import annotations

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
)
