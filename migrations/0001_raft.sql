-- The member's Raft state: hard state, log entries, snapshot metadata, membership.
-- Terms and indexes fit in JS numbers; node IDs are kept as TEXT (uint64 decimal strings).

CREATE TABLE IF NOT EXISTS raft_hard_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  term INTEGER NOT NULL,
  vote TEXT NOT NULL,
  commit_index INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS raft_entries (
  idx INTEGER PRIMARY KEY,
  term INTEGER NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL
);

-- The snapshot the log was compacted to (metadata; the payload is the MVCC store itself).
CREATE TABLE IF NOT EXISTS raft_snapshot (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  idx INTEGER NOT NULL,
  term INTEGER NOT NULL,
  conf_state TEXT NOT NULL
);

-- Who this member is, set once at bootstrap.
CREATE TABLE IF NOT EXISTS member_identity (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  cluster_name TEXT NOT NULL,
  member_name TEXT NOT NULL,
  member_id TEXT NOT NULL,
  cluster_id TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL
);

-- Proposals already applied, by client request id, with their answers: a retried proposal
-- (same id) is applied at most once and gets the first answer again. Pruned by applied index.
CREATE TABLE IF NOT EXISTS member_requests (
  request_id TEXT PRIMARY KEY,
  applied_index INTEGER NOT NULL,
  response TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS member_requests_by_index ON member_requests (applied_index);
