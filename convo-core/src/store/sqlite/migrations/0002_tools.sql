-- Version 2: tool calling. Tools, tool calls and pending calls are JSON
-- text (schemas and arguments are arbitrary JSON: `$ref` keys, numbers of
-- any size read back exactly); rows from version 1 read as "no tools".

ALTER TABLE agents ADD COLUMN tools TEXT NOT NULL DEFAULT '[]';
ALTER TABLE agents ADD COLUMN max_tool_rounds INTEGER NOT NULL DEFAULT 8;
ALTER TABLE agents ADD COLUMN webhook_secret TEXT;

ALTER TABLE sessions ADD COLUMN pending_tool_calls TEXT NOT NULL DEFAULT '[]';

ALTER TABLE messages ADD COLUMN tool_calls TEXT NOT NULL DEFAULT '[]';
ALTER TABLE messages ADD COLUMN tool_call_id TEXT;
ALTER TABLE messages ADD COLUMN tool_name TEXT;
ALTER TABLE messages ADD COLUMN is_error INTEGER NOT NULL DEFAULT 0;
