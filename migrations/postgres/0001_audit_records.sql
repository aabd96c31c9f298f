-- The audit trail (PostgreSQL). Keep in step with migrations/sqlite: same columns, same meaning.
CREATE TABLE driftgate_audit (
    id          BIGSERIAL PRIMARY KEY,
    time_ms     BIGINT  NOT NULL, -- Unix milliseconds, UTC
    uid         TEXT    NOT NULL,
    user_name   TEXT    NOT NULL,
    groups      TEXT    NOT NULL, -- JSON array of strings
    operation   TEXT    NOT NULL,
    subresource TEXT    NOT NULL,
    api_group   TEXT    NOT NULL,
    api_version TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    namespace   TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    decision    TEXT    NOT NULL,
    mode        TEXT    NOT NULL,
    revision    TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    file        TEXT    NOT NULL,
    break_glass TEXT,
    endpoint    TEXT    NOT NULL,
    replica     TEXT    NOT NULL,
    violations  TEXT    NOT NULL, -- JSON array of {path, git, old, requested}
    omitted     BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX driftgate_audit_time ON driftgate_audit (time_ms);
CREATE INDEX driftgate_audit_user ON driftgate_audit (user_name, time_ms);
CREATE INDEX driftgate_audit_namespace ON driftgate_audit (namespace, time_ms);
