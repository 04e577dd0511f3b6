// `npm start` serves the cluster on the port it is given, says where it listens and where its
// data lives, keeps the data across restarts, and stops cleanly on Ctrl-C (SIGINT).
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      )
    })
  })
}

/** Runs `node scripts/start.mjs` (what `npm start` runs) until it prints its listening line. */
async function startProcess(port: number, dataDir: string) {
  const child = spawn(process.execPath, ['scripts/start.mjs'], {
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk) => (output += chunk))
  child.stderr.on('data', (chunk) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const deadline = Date.now() + 30_000
  while (!output.includes('press Ctrl-C to stop')) {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`did not start:\n${output}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return { child, exited, output: () => output }
}

describe('npm start', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'edge-etcd-start-'))
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

  it('serves /version on the given port, persists data, and stops on SIGINT', async () => {
    const port = await freePort()
    const run = await startProcess(port, dataDir)
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
