-- Schema 1: logins, identities, portals, ghosts, message map, journal, appservice transactions.

CREATE TABLE logins (
    id           TEXT PRIMARY KEY,
    matrix_user  TEXT NOT NULL,
    channel      TEXT NOT NULL,
    account      TEXT NOT NULL DEFAULT '',
    session_path TEXT,
    state        TEXT NOT NULL,
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL
);
CREATE INDEX logins_matrix_user ON logins (matrix_user);

-- A remote contact or group as the bridge knows it across logins. address is the current
-- session's address (WeChat UserName), NULL while unbound or ambiguous.
CREATE TABLE identities (
    id          TEXT PRIMARY KEY,
    login_id    TEXT NOT NULL REFERENCES logins (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    address     TEXT,
    state       TEXT NOT NULL DEFAULT 'normal',
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE UNIQUE INDEX identities_address ON identities (login_id, address)
    WHERE address IS NOT NULL;

-- The addresses an ambiguous identity could be, with each one's profile.
CREATE TABLE identity_candidates (
    identity_id TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    address     TEXT NOT NULL,
    profile     TEXT NOT NULL,
    PRIMARY KEY (identity_id, address)
);
CREATE INDEX identity_candidates_address ON identity_candidates (address);

CREATE TABLE portals (
    identity_id TEXT PRIMARY KEY REFERENCES identities (id) ON DELETE CASCADE,
    room        TEXT NOT NULL UNIQUE,
    created_at  REAL NOT NULL
);

CREATE TABLE ghosts (
    identity_id TEXT PRIMARY KEY REFERENCES identities (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL UNIQUE,
    created_at  REAL NOT NULL
);

-- One bridged message: remote_id on side A (WeChat MsgId), event_id on side B (Matrix).
-- origin: 'a', 'b', or 'bridge' for the bridge's own notices.
CREATE TABLE message_map (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    login_id      TEXT NOT NULL REFERENCES logins (id) ON DELETE CASCADE,
    remote_id     TEXT,
    client_msg_id TEXT,
    event_id      TEXT,
    identity_id   TEXT REFERENCES identities (id) ON DELETE SET NULL,
    room          TEXT,
    sender        TEXT NOT NULL,
    origin        TEXT NOT NULL,
    timestamp     REAL NOT NULL,
    revoked       INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX message_map_remote ON message_map (login_id, remote_id)
    WHERE remote_id IS NOT NULL;
CREATE UNIQUE INDEX message_map_event ON message_map (login_id, event_id)
    WHERE event_id IS NOT NULL;

-- Inbound events from either side, committed before the source is acknowledged.
CREATE TABLE journal (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    login_id        TEXT NOT NULL REFERENCES logins (id) ON DELETE CASCADE,
    source          TEXT NOT NULL,
    chat            TEXT NOT NULL,
    chat_key        TEXT NOT NULL,
    sender_key      TEXT,
    dedup_key       TEXT,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error      TEXT,
    created_at      REAL NOT NULL
);
CREATE UNIQUE INDEX journal_dedup ON journal (login_id, source, dedup_key)
    WHERE dedup_key IS NOT NULL;
CREATE INDEX journal_queue ON journal (login_id, state, chat_key, id);

CREATE TABLE appservice_transactions (
    txn_id       TEXT PRIMARY KEY,
    processed_at REAL NOT NULL
);
