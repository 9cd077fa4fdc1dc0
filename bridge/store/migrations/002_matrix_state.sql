-- Schema 2: Matrix-side state of the hub: management rooms and the profiles set on ghosts.

-- The direct chat each Matrix user has with the bridge bot (where bot commands are answered).
CREATE TABLE matrix_management_rooms (
    matrix_user TEXT PRIMARY KEY,
    room        TEXT NOT NULL,
    created_at  REAL NOT NULL
);

-- What the bridge last set on a ghost's (or the bot's) Matrix profile, so it is set again only
-- when the remote contact's name or avatar changes. avatar_source is the remote avatar URL
-- the uploaded avatar_mxc was made from ('' = none).
CREATE TABLE matrix_profiles (
    user_id       TEXT PRIMARY KEY,
    displayname   TEXT NOT NULL DEFAULT '',
    avatar_source TEXT NOT NULL DEFAULT '',
    avatar_mxc    TEXT NOT NULL DEFAULT '',
    updated_at    REAL NOT NULL
);
