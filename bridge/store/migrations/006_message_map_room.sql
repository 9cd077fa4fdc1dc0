-- Schema 6: the newest bridged event of a portal (a read on the phone becomes the user's read
-- receipt on it) is found by an index, not by scanning every message of the login.
CREATE INDEX message_map_room ON message_map (login_id, room, id) WHERE room IS NOT NULL;
