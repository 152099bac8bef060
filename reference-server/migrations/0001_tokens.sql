-- tokenlife reference server, schema 1. Portable between SQLite and PostgreSQL:
-- integers are BIGINT (booleans 0/1), text is TEXT, times are Unix seconds.
-- Token values are never stored: `hash` is the hex SHA-256 of the token.

CREATE TABLE grants (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    scope       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    cap_at      BIGINT,
    revoked     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX grants_subject ON grants (subject);

CREATE TABLE authorization_codes (
    hash            TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    scope           TEXT NOT NULL,
    code_challenge  TEXT,
    expires_at      BIGINT NOT NULL,
    used            BIGINT NOT NULL DEFAULT 0,
    grant_id        TEXT
);

CREATE TABLE refresh_tokens (
    hash            TEXT PRIMARY KEY,
    grant_id        TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    scope           TEXT NOT NULL,
    issued_at       BIGINT NOT NULL,
    expires_at      BIGINT,
    idle_deadline   BIGINT,
    status          TEXT NOT NULL,
    consumed_at     BIGINT,
    reuse_count     BIGINT NOT NULL DEFAULT 0,
    successor_hash  TEXT,
    version         BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);

CREATE TABLE access_tokens (
    hash        TEXT PRIMARY KEY,
    grant_id    TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    scope       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX access_tokens_grant ON access_tokens (grant_id);

CREATE TABLE server_state (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
