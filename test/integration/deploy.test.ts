// `npm run deploy` is `wrangler deploy`: its dry run bundles the Worker exactly as a deploy
// would (wrangler.toml's entry, the .sql migrations as text, the Member class), offline.
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)

describe('wrangler deploy --dry-run', () => {
  const outdir = mkdtempSync(join(tmpdir(), 'edge-etcd-deploy-'))
  afterAll(() => rmSync(outdir, { recursive: true, force: true }))

  it('bundles the front door, the Member Durable Object and the migrations', async () => {
    const wrangler = join('node_modules', '.bin', 'wrangler')
    const { stdout } = await run(
      process.execPath,
      [wrangler, 'deploy', '--dry-run', '--outdir', outdir],
      {
        env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' },
      },
    )
    expect(stdout).toContain('env.MEMBER (Member)')
    const files = readdirSync(outdir)
    const code = readFileSync(join(outdir, 'index.js'), 'utf8')
    expect(code).toMatch(/Member = class extends DurableObject/)
    // The migrations ship as Text modules beside the bundle, imported by it.
    for (const [name, table] of [
      ['0001_raft.sql', 'raft_entries'],
      ['0002_mvcc.sql', 'mvcc_history'],
    ] as const) {
      const file = files.find((f) => f.endsWith(name))!
      expect(code).toContain(file)
      expect(readFileSync(join(outdir, file), 'utf8')).toContain(
        `CREATE TABLE IF NOT EXISTS ${table}`,
      )
    }
  }, 60_000)
})
