-- tokenlife reference server, schema 3: the refresh token an access token was issued with.
-- Under `refresh_ends_access = "presented"` a refresh ends the access tokens issued with the
-- presented refresh token, found through this column; under every other policy it stays
-- NULL, and the partial index costs those refreshes nothing.
-- Portable between SQLite and PostgreSQL.

ALTER TABLE access_tokens ADD COLUMN refresh_hash TEXT;
CREATE INDEX access_tokens_refresh ON access_tokens (refresh_hash) WHERE refresh_hash IS NOT NULL;
