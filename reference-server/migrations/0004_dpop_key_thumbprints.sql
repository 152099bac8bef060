-- tokenlife reference server, schema 4: DPoP (RFC 9449) key thumbprints.
-- `grants.dpop_jkt`: the key of the proof that came with the code exchange; a public
-- client's refresh tokens of the grant are bound to it (RFC 9449 §5), successors included.
-- `access_tokens.dpop_jkt`: the key the access token is bound to (its `cnf.jkt`, §6.1).
-- NULL for every client that does not use DPoP. Portable between SQLite and PostgreSQL.

ALTER TABLE grants ADD COLUMN dpop_jkt TEXT;
ALTER TABLE access_tokens ADD COLUMN dpop_jkt TEXT;
