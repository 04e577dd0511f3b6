// `npm start` serves the cluster on the port it is given, says where it listens and where its
// data lives, keeps the data across restarts, and stops cleanly on Ctrl-C (SIGINT).
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort, startLauncher } from '../support/process.ts'

describe('npm start', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'edge-etcd-start-'))
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

  it('serves /version on the given port, persists data, and stops on SIGINT', async () => {
    const port = await freePort()
    const run = await startLauncher(port, dataDir)
    expect(run.output()).toContain(`edge-etcd listening on http://127.0.0.1:${port}`)
    expect(run.output()).toContain(`data in ${dataDir}`)

    const version = await fetch(`http://127.0.0.1:${port}/version`)
    expect(version.status).toBe(200)
    expect(await version.json()).toEqual({ etcdserver: '3.4.23', etcdcluster: '3.4.0' })

    run.child.kill('SIGINT')
    expect(await run.exited).toBe(0)
    expect(existsSync(join(dataDir, 'do'))).toBe(true)
    expect(readdirSync(join(dataDir, 'do')).length).toBeGreaterThan(0)
  })
})
