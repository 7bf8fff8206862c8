-- Version 4: project API keys and end users. Rows from earlier versions
-- read as started by the owner (no end user) and sent without a key.

ALTER TABLE sessions ADD COLUMN end_user TEXT;
-- The owner's `?end_user=` list and a chat key's own list: one range scan.
CREATE INDEX sessions_by_agent_end_user ON sessions (agent_id, end_user, id);

ALTER TABLE usage ADD COLUMN key_id TEXT;
ALTER TABLE usage ADD COLUMN end_user TEXT;
-- The end user's monthly budget check, on every chat-key turn.
CREATE INDEX usage_by_end_user ON usage (owner, project_id, end_user, at);

-- Deleted with their project, like agents. Only the secret's hash is kept.
CREATE TABLE api_keys (
    id                            TEXT PRIMARY KEY,
    project_id                    TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    owner                         TEXT NOT NULL,
    name                          TEXT NOT NULL,
    scope                         TEXT NOT NULL,
    prefix                        TEXT NOT NULL,
    secret_hash                   TEXT NOT NULL UNIQUE,
    created_at                    INTEGER NOT NULL,
    expires_at                    INTEGER,
    last_used_at                  INTEGER,
    rate_limit_per_minute         INTEGER,
    end_user_monthly_token_budget INTEGER
) STRICT;
CREATE INDEX api_keys_by_project ON api_keys (project_id, id);

-- Each key's current one-minute window and its request count: one row per
-- key, so a new window overwrites the last and nothing old piles up. No
-- foreign key (counting never fails on a key deleted meanwhile); the
-- trigger drops the row with its key, also when a project's delete
-- cascades to its keys (cascades fire delete triggers).
CREATE TABLE key_windows (
    key_id       TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL
) STRICT;
CREATE TRIGGER api_keys_drop_window AFTER DELETE ON api_keys
BEGIN
    DELETE FROM key_windows WHERE key_id = old.id;
END;
