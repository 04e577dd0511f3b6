// The replicated alarm set (etcd's v3alarm.AlarmStore) over the member's SQLite: written only by
// applied raft entries, in the apply transaction, so it is the same on every member and survives
// restarts; the raft snapshot carries its table (kv-snapshot.ts).
import type { AlarmMember, AlarmName, AlarmSet } from '../api/maintenance-service.ts'
import type { Sql } from '../mvcc/sql.ts'

/** The alarms raised in this cluster, as stored by this member. */
export class SqlAlarmSet implements AlarmSet {
  /** The raft index being applied (recorded with an alarm it raises). */
  applyingIndex = 0

  constructor(private readonly sql: Sql) {}

  get(type: AlarmName): AlarmMember[] {
    const rows =
      type === 'NONE'
        ? this.sql.exec('SELECT member_id, alarm FROM member_alarms ORDER BY raised_index')
        : this.sql.exec(
            'SELECT member_id, alarm FROM member_alarms WHERE alarm = ? ORDER BY raised_index',
            type,
          )
    return rows.toArray().map((r) => ({
      memberID: String(r['member_id']),
      alarm: String(r['alarm']) as AlarmName,
    }))
  }

  add(alarm: AlarmMember): boolean {
    return (
      this.sql.exec(
        'INSERT OR IGNORE INTO member_alarms (member_id, alarm, raised_index) VALUES (?, ?, ?)',
        alarm.memberID,
        alarm.alarm,
        this.applyingIndex,
      ).rowsWritten > 0
    )
  }

  remove(alarm: AlarmMember): boolean {
    return (
      this.sql.exec(
        'DELETE FROM member_alarms WHERE member_id = ? AND alarm = ?',
        alarm.memberID,
        alarm.alarm,
      ).rowsWritten > 0
    )
  }
}
