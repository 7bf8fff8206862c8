-- Version 1: the tables of every Store operation.
-- Ids are canonical UUIDv7 text (lexicographic order = creation order);
-- times are milliseconds since the Unix epoch (what every backend keeps).
-- Children point at their parent ON DELETE CASCADE: a delete is one statement.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX projects_by_owner ON projects (owner, id);

CREATE TABLE agents (
    id                TEXT PRIMARY KEY,
    project_id        TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    owner             TEXT NOT NULL,
    name              TEXT NOT NULL,
    system_prompt     TEXT NOT NULL,
    model             TEXT NOT NULL,
    temperature       REAL,
    max_output_tokens INTEGER,
    context_messages  INTEGER NOT NULL,
    context_tokens    INTEGER,
    reasoning_effort  TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX agents_by_project ON agents (project_id, id);

-- Also holds the turn lock: `lock_holder` until `lock_until`, and whether
-- the holder was asked to stop.
CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY,
    agent_id            TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    project_id          TEXT NOT NULL,
    owner               TEXT NOT NULL,
    title               TEXT,
    message_count       INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    forked_from_session TEXT,
    forked_from_seq     INTEGER,
    lock_holder         TEXT,
    lock_until          INTEGER,
    lock_cancel         INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX sessions_by_agent ON sessions (agent_id, id);

-- `usage_*` are all NULL when the message has no usage, `context_*` likewise.
CREATE TABLE messages (
    id                      TEXT PRIMARY KEY,
    session_id              TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq                     INTEGER NOT NULL,
    role                    TEXT NOT NULL,
    content                 TEXT NOT NULL,
    created_at              INTEGER NOT NULL,
    model                   TEXT,
    finish_reason           TEXT,
    usage_prompt_tokens     INTEGER,
    usage_completion_tokens INTEGER,
    usage_total_tokens      INTEGER,
    usage_thoughts_tokens   INTEGER,
    usage_cached_tokens     INTEGER,
    context_first_seq       INTEGER,
    context_last_seq        INTEGER,
    context_messages        INTEGER,
    provider_state          TEXT,
    UNIQUE (session_id, seq)
) STRICT;

-- `record` is the IdempotencyRecord's messages as JSON.
CREATE TABLE idempotency (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    record     TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (session_id, key)
) STRICT;

CREATE TABLE usage (
    owner             TEXT NOT NULL,
    project_id        TEXT NOT NULL,
    agent_id          TEXT NOT NULL,
    session_id        TEXT NOT NULL,
    at                INTEGER NOT NULL,
    day               TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    thoughts_tokens   INTEGER NOT NULL,
    cached_tokens     INTEGER NOT NULL,
    total_tokens      INTEGER NOT NULL,
    failed            INTEGER NOT NULL
) STRICT;
CREATE INDEX usage_by_owner ON usage (owner, at);
