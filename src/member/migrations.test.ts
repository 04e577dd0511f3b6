import { readdirSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { MIGRATIONS } from './migrations.ts'

describe('migrations', () => {
  // Numbers are handed out per branch before the work lands, so a branch may hold 0004 before
  // 0003 is merged: what must hold is that every file is listed, under its own number, in order.
  it('lists every file of migrations/ under its number, in increasing order', () => {
    const files = readdirSync(new URL('../../migrations/', import.meta.url))
      .filter((f) => f.endsWith('.sql'))
      .sort()
    expect(MIGRATIONS.map((m) => `${m.name}.sql`)).toEqual(files)
    expect(MIGRATIONS.map((m) => m.id)).toEqual(files.map((f) => Number(f.slice(0, 4))))
    MIGRATIONS.forEach((m, i) => i > 0 && expect(m.id).toBeGreaterThan(MIGRATIONS[i - 1]!.id))
    for (const m of MIGRATIONS) expect(m.sql.length).toBeGreaterThan(0)
  })
})
