-- Schema 6: which message stands for an edited one on the other side. A network without
-- edits (WeChat) gets an edit as a recall of the message and a new one; later revocations
-- of, replies to and edits of the original must reach that new message, after a restart too.
-- source: the side the edit came from ('a' or 'b'); original and replacement: the ids there
-- of the edited message and of the edit whose message now stands for it; replaced_at: unix s
-- when the other side accepted that message (recall windows count from it).
CREATE TABLE message_replacements (
    login_id    TEXT NOT NULL REFERENCES logins (id) ON DELETE CASCADE,
    source      TEXT NOT NULL,
    original    TEXT NOT NULL,
    replacement TEXT NOT NULL,
    replaced_at REAL NOT NULL,
    PRIMARY KEY (login_id, source, original)
);
CREATE INDEX message_replacements_age ON message_replacements (replaced_at);
