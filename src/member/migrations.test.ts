import { readdirSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { MIGRATIONS } from './migrations.ts'

describe('migrations', () => {
  it('lists every file of migrations/ in order, numbered from 1 without gaps', () => {
    const files = readdirSync(new URL('../../migrations/', import.meta.url))
      .filter((f) => f.endsWith('.sql'))
      .sort()
    expect(MIGRATIONS.map((m) => `${m.name}.sql`)).toEqual(files)
    expect(MIGRATIONS.map((m) => m.id)).toEqual(files.map((_, i) => i + 1))
    for (const m of MIGRATIONS) expect(m.sql.length).toBeGreaterThan(0)
  })
})
