-- tokenlife reference server, schema 2: no index of access tokens by grant.
-- An access token is honoured only while its grant is not revoked (every check reads the
-- grant), so revoking a grant no longer marks each of its access tokens, and nothing looks
-- access tokens up by grant: the index only cost every refresh one more b-tree page to write.
-- Portable between SQLite and PostgreSQL.

DROP INDEX access_tokens_grant;
