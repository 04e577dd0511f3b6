-- Maintenance state that is replicated through raft (src/member/alarms.ts).
--
-- Raised alarms, as etcd's "alarm" bucket: one row per (member, alarm type). Applied from raft
-- entries on every member and carried in raft snapshots, so every member refuses the same
-- writes while NOSPACE or CORRUPT is raised. member_id is a uint64 decimal string.
CREATE TABLE IF NOT EXISTS member_alarms (
  member_id TEXT NOT NULL,
  alarm TEXT NOT NULL,                 -- 'NOSPACE', 'CORRUPT', 'NONE' or a number etcd has no name for
  raised_index INTEGER NOT NULL,       -- the raft index that raised it (GET lists in this order)
  PRIMARY KEY (member_id, alarm)
) WITHOUT ROWID;
