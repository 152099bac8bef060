-- tokenlife reference server, schema 5: the DPoP proofs seen (RFC 9449 §11.1).
-- A proof's `jti` is kept, per key, for as long as a proof with its `iat` could pass, so a
-- replay is refused after a restart and on another instance of the same store too. Rows
-- past `until` (Unix seconds) are forgotten. Portable between SQLite and PostgreSQL.

CREATE TABLE dpop_proofs (
    jkt TEXT NOT NULL,
    jti TEXT NOT NULL,
    until BIGINT NOT NULL,
    PRIMARY KEY (jkt, jti)
);
CREATE INDEX dpop_proofs_by_until ON dpop_proofs (until);
