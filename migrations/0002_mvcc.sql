-- The MVCC key-value store (src/mvcc), modelled on etcd's mvcc package.
--
-- Revisions are {main, sub}: main grows by one per write transaction, sub numbers the changes in
-- it. They are INTEGER (a revision never reaches 2^53); lease IDs are int64 and kept as decimal
-- TEXT. Keys and values are BLOBs, compared bytewise (memcmp), exactly as etcd orders keys.
--
-- Worked example: put a=1 (rev 2), put a=2 (rev 3), delete a (rev 4) gives
--   mvcc_history: (a,2,0,put,v1) (a,3,0,put,v2) (a,4,0,tombstone)   mvcc_latest: (no row for a)

-- Every change ever made and not yet compacted: puts and tombstones. Clustered by (key, main,
-- sub), so a key's history and a historical range over a key span are index seeks.
CREATE TABLE IF NOT EXISTS mvcc_history (
  key BLOB NOT NULL,
  main INTEGER NOT NULL,
  sub INTEGER NOT NULL,
  tombstone INTEGER NOT NULL,          -- 1 = delete, 0 = put
  create_revision INTEGER NOT NULL,    -- 0 on tombstones
  version INTEGER NOT NULL,            -- 0 on tombstones
  lease TEXT NOT NULL,                 -- int64 decimal, '0' = no lease
  value BLOB NOT NULL,
  PRIMARY KEY (key, main, sub)
) WITHOUT ROWID;

-- The event log for watch: the same rows in revision order (main, sub), kept until compaction.
-- Also drives compaction and HashKV, which walk history by revision.
CREATE INDEX IF NOT EXISTS mvcc_history_by_revision ON mvcc_history (main, sub);

-- The live version of every key that exists now (deleted keys have no row): current-revision
-- ranges and counts read only this table. Its (main, sub) point at the mvcc_history row that
-- holds the value. `lease` is indexed so the lessor (a later migration) finds a lease's keys.
CREATE TABLE IF NOT EXISTS mvcc_latest (
  key BLOB PRIMARY KEY,
  main INTEGER NOT NULL,               -- mod_revision
  sub INTEGER NOT NULL,
  create_revision INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mvcc_latest_by_lease ON mvcc_latest (lease) WHERE lease <> '0';

-- Store-wide counters: current_revision, compact_revision, applied_index (all decimal TEXT).
-- compact_revision starts at -1, as etcd's compactMainRev: compacting at 0 succeeds once.
CREATE TABLE IF NOT EXISTS mvcc_meta (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO mvcc_meta (name, value) VALUES
  ('current_revision', '1'),
  ('compact_revision', '-1'),
  ('applied_index', '0');
