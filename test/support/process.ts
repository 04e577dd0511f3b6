// Runs `npm start`'s launcher (scripts/start.mjs) as a separate process group, so a test can
// kill the whole local runtime (node and workerd) with SIGKILL, as a crash would.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'

/** A free loopback port. */
export function freePort(): Promise<number> {
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

/** A launcher process. */
export interface LauncherProcess {
  child: ChildProcess
  url: string
  exited: Promise<number | null>
  output(): string
  /** SIGKILL to the whole process group: node and workerd die at once, nothing is flushed. */
  killHard(): Promise<void>
}

/** Starts `node scripts/start.mjs` and waits for its listening line. */
export async function startLauncher(
  port: number,
  dataDir: string,
  args: string[] = [],
): Promise<LauncherProcess> {
  const child = spawn(process.execPath, ['scripts/start.mjs', ...args], {
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let output = ''
  child.stdout!.on('data', (chunk) => (output += chunk))
  child.stderr!.on('data', (chunk) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const deadline = Date.now() + 30_000
  while (!output.includes('press Ctrl-C to stop')) {
    if (Date.now() > deadline || child.exitCode !== null) {
      throw new Error(`did not start:\n${output}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    exited,
    output: () => output,
    killHard: async () => {
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        // already gone
      }
      await exited
      // workerd is in the same group; give the kernel a moment to release the port and files.
      await new Promise((r) => setTimeout(r, 200))
    },
  }
}
