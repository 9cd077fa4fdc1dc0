-- Schema 5: the match keys of identities as indexed columns, so that a contact appearing in
-- the middle of a session is matched with a few indexed look-ups instead of a scan of every
-- identity (PROTOCOL.md §11). They repeat fields of the JSON fingerprint ('' = none):
-- real_id (wxid / NNN@chatroom), alias, remark_name, topic (NickName, else name).
ALTER TABLE identities ADD COLUMN real_id TEXT NOT NULL DEFAULT '';
ALTER TABLE identities ADD COLUMN alias TEXT NOT NULL DEFAULT '';
ALTER TABLE identities ADD COLUMN remark_name TEXT NOT NULL DEFAULT '';
ALTER TABLE identities ADD COLUMN topic TEXT NOT NULL DEFAULT '';
UPDATE identities SET
    real_id = COALESCE(json_extract(fingerprint, '$.value.real_id'), ''),
    alias = COALESCE(json_extract(fingerprint, '$.value.alias'), ''),
    remark_name = COALESCE(json_extract(fingerprint, '$.value.remark_name'), ''),
    topic = COALESCE(NULLIF(json_extract(fingerprint, '$.value.nick_name'), ''),
                     json_extract(fingerprint, '$.value.name'), '');
CREATE INDEX identities_real_id ON identities (login_id, real_id) WHERE real_id <> '';
CREATE INDEX identities_alias ON identities (login_id, alias) WHERE alias <> '';
CREATE INDEX identities_remark_name ON identities (login_id, remark_name) WHERE remark_name <> '';
CREATE INDEX identities_topic ON identities (login_id, topic) WHERE topic <> '';

-- The RemarkName of a held candidate, so that its uniqueness is checked without decoding all.
ALTER TABLE identity_candidates ADD COLUMN remark_name TEXT NOT NULL DEFAULT '';
UPDATE identity_candidates SET
    remark_name = COALESCE(json_extract(profile, '$.value.remark_name'), '');
CREATE INDEX identity_candidates_remark_name ON identity_candidates (remark_name)
    WHERE remark_name <> '';


-- A counter bumped by every change to identities or their candidates: a contact book matched
-- outside a transaction is applied inside one only if nothing changed meanwhile.
CREATE TABLE identity_generation (n INTEGER NOT NULL);
INSERT INTO identity_generation (n) VALUES (0);
CREATE TRIGGER identities_insert_generation AFTER INSERT ON identities
BEGIN UPDATE identity_generation SET n = n + 1; END;
CREATE TRIGGER identities_update_generation AFTER UPDATE ON identities
BEGIN UPDATE identity_generation SET n = n + 1; END;
CREATE TRIGGER identities_delete_generation AFTER DELETE ON identities
BEGIN UPDATE identity_generation SET n = n + 1; END;
CREATE TRIGGER candidates_insert_generation AFTER INSERT ON identity_candidates
BEGIN UPDATE identity_generation SET n = n + 1; END;
CREATE TRIGGER candidates_delete_generation AFTER DELETE ON identity_candidates
BEGIN UPDATE identity_generation SET n = n + 1; END;

-- Identity decisions worth a user's review: chats held or bound on evidence weaker than an
-- identifier, the user's resolve and split. before: the fingerprint before the decision.
CREATE TABLE identity_audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    login_id    TEXT NOT NULL REFERENCES logins (id) ON DELETE CASCADE,
    identity_id TEXT NOT NULL,
    decision    TEXT NOT NULL,
    evidence    TEXT NOT NULL,
    contact     TEXT NOT NULL DEFAULT '',
    before      TEXT,
    created_at  REAL NOT NULL
);
CREATE INDEX identity_audit_login ON identity_audit (login_id, id);
CREATE INDEX identity_audit_identity ON identity_audit (identity_id, id);
