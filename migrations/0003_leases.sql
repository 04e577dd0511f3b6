-- Leases (src/mvcc/lease-store.ts), modelled on etcd's lessor, plus the replicated lease clock.
--
-- A lease's keys are not stored twice: they are the live keys whose mvcc_latest.lease names it
-- (indexed by migration 0002), so a put with a lease attaches, a put with another lease or none
-- detaches, and a delete detaches, all by the put or delete itself.
--
-- Time is "lease time" (src/mvcc/lease-clock.ts): milliseconds on a clock that every lease entry
-- carries (its `now`), advanced between entries by each member's own elapsed time. `expiry_ms`
-- is the lease time at which the lease expires as of its last grant or keepalive, so the
-- remaining TTL at lease time T is expiry_ms - T: it survives a leader change.
--
-- Worked example (TTL 10 s): grant at lease time 5000 -> expiry_ms 15000; keepalive at 9000 ->
-- expiry_ms 19000; at lease time 12000 timetolive answers TTL 7, grantedTTL 10.

CREATE TABLE IF NOT EXISTS lease (
  id TEXT PRIMARY KEY,                 -- int64 decimal (etcd lease IDs may be negative)
  ttl INTEGER NOT NULL,                -- granted TTL in seconds (after etcd's minimum)
  expiry_ms INTEGER NOT NULL           -- lease time of expiry, as of the last grant/keepalive
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS lease_by_expiry ON lease (expiry_ms, id);

-- The lease time carried by the last applied lease entry and the raft term it was proposed in:
-- a member that restarts (or installs a snapshot) rebuilds its lease clock from this row.
CREATE TABLE IF NOT EXISTS lease_clock (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  now_ms INTEGER NOT NULL,
  term INTEGER NOT NULL
);
