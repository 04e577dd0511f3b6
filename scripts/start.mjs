#!/usr/bin/env node
// `npm start`: the local edge-etcd cluster, all members in one local runtime, on 127.0.0.1.
import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import { readFileSync } from 'node:fs'
import { startLocalCluster } from './local-cluster.mjs'
import { restoreSnapshot } from './snapshot.mjs'

const HELP = `Usage: npm start [-- options]

Runs a local edge-etcd cluster (the front door and every member Durable Object of
wrangler.toml's INITIAL_CLUSTER) in one local workerd runtime, on 127.0.0.1.

Options:
  --port N        port to listen on (default: $PORT, else 2379; 0 = any free port)
  --data-dir DIR  where members keep their SQLite data (default: $DATA_DIR, else .data/local)
  --var KEY=VALUE override a wrangler.toml [vars] entry (repeatable), e.g.
                  --var INITIAL_CLUSTER=m1,m2,m3,m4,m5
  --restore FILE  load a saved snapshot (npm run snapshot -- save FILE) into this
                  cluster once it is up; only a fresh cluster accepts it, so give a new
                  --data-dir and --var CLUSTER_NAME=... (docs/membership-and-backup.md)
  --verbose       log every request
  -h, --help      show this help

Stop it with Ctrl-C; the data stays in the data dir for the next start.
`

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    'data-dir': { type: 'string' },
    verbose: { type: 'boolean' },
    restore: { type: 'string' },
    var: { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h' },
  },
})
if (values.help) {
  process.stdout.write(HELP)
  process.exit(0)
}

const port = Number(values.port ?? process.env.PORT ?? 2379)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid port: ${values.port ?? process.env.PORT}`)
  process.exit(2)
}
const vars = {}
for (const item of values.var ?? []) {
  const eq = item.indexOf('=')
  if (eq <= 0) {
    console.error(`invalid --var ${item}: expected KEY=VALUE`)
    process.exit(2)
  }
  vars[item.slice(0, eq)] = item.slice(eq + 1)
}
const persistDir = resolve(values['data-dir'] ?? process.env.DATA_DIR ?? '.data/local')

const cluster = await startLocalCluster({ port, persistDir, vars, verbose: values.verbose })
console.log(`edge-etcd listening on ${cluster.url}`)
console.log(`data in ${persistDir}`)
console.log('press Ctrl-C to stop')

if (values.restore) {
  try {
    const file = readFileSync(values.restore)
    for (let i = 0; ; i++) {
      const health = await fetch(`${cluster.url}/health`).catch(() => undefined)
      if (health?.status === 200) break
      if (i > 300) throw new Error('the cluster did not elect a leader')
      await new Promise((r) => setTimeout(r, 100))
    }
    const result = await restoreSnapshot(cluster.url, file)
    console.log(`restore: ${result.message}`)
  } catch (e) {
    console.error(`restore: ${e.message}`)
  }
}

let stopping = false
async function stop(signal) {
  if (stopping) return
  stopping = true
  console.log(`\n${signal}: stopping`)
  await cluster.stop()
  process.exit(0)
}
// Miniflare's own signal hook exits at once with 128+signal; replace it with an orderly stop
// (its exit hook still kills workerd should anything go wrong).
process.removeAllListeners('SIGINT')
process.removeAllListeners('SIGTERM')
process.on('SIGINT', () => void stop('SIGINT'))
process.on('SIGTERM', () => void stop('SIGTERM'))
