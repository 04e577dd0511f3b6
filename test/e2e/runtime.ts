// The local runtime a fault run drives: `npm start`'s launcher (scripts/start.mjs) with
// DEV_FAULTS on, in its own process group on a free port with its own data folder, so a
// schedule can SIGKILL all of it (node and workerd) and start it again on the same port from
// what it persisted, as a machine crash and reboot would.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitHealthy } from '../support/cluster.ts'
import { freePort, startLauncher, type LauncherProcess } from '../support/process.ts'

/** A restartable local runtime. */
export interface Runtime {
  url: string
  dataDir: string
  /** How many times it was killed and restarted. */
  restarts(): number
  /** SIGKILL, then start again from the persisted state (returns once it listens). */
  killAndRestart(): Promise<void>
  stop(): Promise<void>
}

const ARGS = ['--var', 'DEV_FAULTS=true']

/** Starts the runtime and waits until the cluster has a leader. */
export async function startRuntime(): Promise<Runtime> {
  const dataDir = mkdtempSync(join(tmpdir(), 'edge-etcd-jepsen-'))
  const port = await freePort()
  let launcher: LauncherProcess = await startLauncher(port, dataDir, ARGS)
  let restarts = 0
  await waitHealthy(launcher.url, 60_000)
  return {
    url: launcher.url,
    dataDir,
    restarts: () => restarts,
    async killAndRestart() {
      await launcher.killHard()
      restarts++
      // The port may linger for a moment after the kill; retry the start until it binds.
      for (let attempt = 0; ; attempt++) {
        try {
          launcher = await startLauncher(port, dataDir, ARGS)
          return
        } catch (e) {
          if (attempt >= 5) throw e
          await new Promise((r) => setTimeout(r, 500))
        }
      }
    },
    async stop() {
      await launcher.killHard()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
