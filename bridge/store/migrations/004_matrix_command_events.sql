-- Schema 4: bot commands already taken from the homeserver, by event id, so a command that
-- arrives again in another transaction (a homeserver replaying after a restart numbers its
-- transactions anew) is not executed twice.
CREATE TABLE matrix_command_events (
    event_id TEXT PRIMARY KEY,
    seen_at  REAL NOT NULL
);
CREATE INDEX matrix_command_events_seen_at ON matrix_command_events (seen_at);
