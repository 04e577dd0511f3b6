// Runs the whole cluster in one local workerd runtime through Miniflare's API: the front door
// and every member Durable Object (SQLite storage persisted in a folder), no file watcher.
// Used by `npm start` and by the integration tests, so both run exactly what users run.
import { Miniflare, Log, LogLevel, convertV4MiniflareOptions } from 'miniflare'
import { unstable_readConfig } from 'wrangler'
import { join } from 'node:path'
import { bundleWorker, projectRoot } from './bundle.mjs'

/**
 * Starts the local cluster. Options: `port` (0 = any free port), `persistDir` (where member
 * data lives; undefined = a temporary folder removed on stop), `vars` (override wrangler.toml
 * [vars]), `verbose` (log every request). Returns `{ url, port, persistDir, stop() }`.
 */
// Local tracing (on by default) halves throughput and slows SQL 5–7× (TOOLCHAIN.md); the local
// explorer is a developer UI we do not serve. Both off unless the caller says otherwise.
process.env.X_LOCAL_OBSERVABILITY ??= 'false'
process.env.X_LOCAL_EXPLORER ??= 'false'
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false'

export async function startLocalCluster({
  port = 2379,
  persistDir,
  vars = {},
  verbose = false,
} = {}) {
  const config = unstable_readConfig(
    { config: join(projectRoot, 'wrangler.toml') },
    { hideWarnings: true },
  )
  const script = await bundleWorker()
  const durableObjects = {}
  for (const binding of config.durable_objects.bindings) {
    durableObjects[binding.name] = { className: binding.class_name, useSQLite: true }
  }
  const options = {
    host: '127.0.0.1',
    port,
    name: config.name,
    modules: true,
    script,
    scriptPath: join(projectRoot, 'dist/worker.js'),
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags,
    bindings: { ...config.vars, ...vars },
    durableObjects,
    cf: false,
    log: new Log(verbose ? LogLevel.INFO : LogLevel.WARN),
  }
  // Miniflare 5 takes a new option shape; its converter keeps us on the documented v4 one.
  const mf = new Miniflare({
    ...convertV4MiniflareOptions(options),
    resourcePersistencePath: persistDir,
    enableDevRegistry: false,
  })
  const url = await mf.ready
  return {
    url: url.origin,
    port: Number(url.port),
    persistDir,
    stop: () => mf.dispose(),
  }
}
