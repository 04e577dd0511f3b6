import { readdirSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { MIGRATIONS } from './migrations.ts'

describe('migrations', () => {
  // Numbers are handed out to parallel branches, so a branch may hold 0005 before 0003 lands.
  it('lists every file of migrations/ in order, each under its own number', () => {
    const files = readdirSync(new URL('../../migrations/', import.meta.url))
      .filter((f) => f.endsWith('.sql'))
      .sort()
    expect(MIGRATIONS.map((m) => `${m.name}.sql`)).toEqual(files)
    expect(MIGRATIONS.map((m) => m.id)).toEqual(files.map((f) => Number(f.slice(0, 4))))
    for (const m of MIGRATIONS) expect(m.sql.length).toBeGreaterThan(0)
  })
})
