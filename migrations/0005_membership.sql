-- Cluster membership as replicated state (src/member/membership.ts). INITIAL_CLUSTER only
-- bootstraps it; from then on it changes only by applying raft conf-change entries, so every
-- member holds the same rows at the same applied index, and a raft snapshot carries them.
-- A member's peer URL names its Durable Object: bootstrap members are `<cluster>/<name>`,
-- added members `<cluster>/<name>/<id>` (a fresh object, empty storage, for every add).
CREATE TABLE IF NOT EXISTS cluster_members (
  id TEXT PRIMARY KEY,                 -- uint64 decimal
  name TEXT NOT NULL,
  peer_urls TEXT NOT NULL,             -- JSON array of strings, sorted (etcd sorts them)
  object_name TEXT NOT NULL,           -- the member's Durable Object name
  is_learner INTEGER NOT NULL,         -- 1 = learner (receives the log, does not vote)
  added_index INTEGER NOT NULL         -- raft index of the conf change that added it
) WITHOUT ROWID;

-- A restore in progress (src/member/restore.ts): the file's chunks, one per raft entry, until the
-- last one arrives and the whole file is applied at once. Replicated (raft snapshots carry it).
CREATE TABLE IF NOT EXISTS restore_staging (
  request_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (request_id, seq)
) WITHOUT ROWID;

-- Local to one member, never replicated: set when this member was removed from the cluster.
-- Its raft and MVCC data are gone; `members` is the membership it last knew, a forwarding
-- address for a front door that still has this member as a seed.
CREATE TABLE IF NOT EXISTS member_retired (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  members TEXT NOT NULL,
  retired_at_ms INTEGER NOT NULL
);

-- Local to one member: FORCE_NEW_CLUSTER values this member already acted on (disaster
-- recovery runs once per value, however often the front door wakes the member with it set).
CREATE TABLE IF NOT EXISTS member_forced (
  token TEXT PRIMARY KEY,
  forced_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
