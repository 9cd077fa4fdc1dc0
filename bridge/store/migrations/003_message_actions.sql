-- Schema 3: what a later revoke or reply needs, kept with the message map (not in memory);
-- the unused ghosts table goes.

-- Opaque to the core: what the adapter that sent the message needs to revoke it
-- (WeChat: the ClientMsgId of the send, PROTOCOL.md §8). Was client_msg_id, never filled.
ALTER TABLE message_map RENAME COLUMN client_msg_id TO revoke_data;
-- When the bridge's send was accepted (unix s); revoke windows count from it.
ALTER TABLE message_map ADD COLUMN sent_at REAL;
-- The message's text on side A, which a reply to it may quote ('' or NULL: none).
ALTER TABLE message_map ADD COLUMN quote_text TEXT;

-- Ghost user ids follow from identity ids (the Matrix adapter's username template), and the
-- Matrix side remembers the ghosts it registered in matrix_profiles: the table had no use.
DROP TABLE ghosts;
