-- The runtime: servers, grants and sessions kept by the Local backend (one row per object, the
-- whole object as JSON), teams provisioned for it, per-team publish times (push cooldown) and
-- the managed agent directory (both backends).

CREATE TABLE runtime_objects (
    kind TEXT NOT NULL CHECK (kind IN ('server', 'grant', 'session')),
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    server TEXT NOT NULL,
    grant_name TEXT,
    agent_id TEXT,
    body TEXT NOT NULL,
    generation BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, namespace, name)
);
CREATE INDEX runtime_objects_server ON runtime_objects (kind, namespace, server);
CREATE INDEX runtime_objects_grant ON runtime_objects (grant_name);
CREATE INDEX runtime_objects_agent ON runtime_objects (agent_id);

CREATE TABLE runtime_teams (
    namespace TEXT PRIMARY KEY,
    team_id TEXT NOT NULL,
    provisioned_at BIGINT NOT NULL
);

CREATE TABLE runtime_pushes (
    team_id TEXT PRIMARY KEY,
    pushed_at BIGINT NOT NULL
);

CREATE TABLE managed_agents (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    active BIGINT NOT NULL DEFAULT 1,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deactivated_at BIGINT,
    UNIQUE (team_id, name_key)
);
CREATE INDEX managed_agents_team ON managed_agents (team_id, name_key);
