//! tokenlife-server: the reference OAuth 2.0 authorization server (work in progress).
