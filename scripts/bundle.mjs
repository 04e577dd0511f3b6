// Bundles the Worker (front door + Member Durable Object) into one ES module with esbuild,
// the same way wrangler does: TypeScript in, migrations/*.sql as text, cloudflare:* external.
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'

export const projectRoot = fileURLToPath(new URL('..', import.meta.url))

/** Returns the bundled Worker as JavaScript source text. */
export async function bundleWorker() {
  const result = await build({
    absWorkingDir: projectRoot,
    entryPoints: ['src/gateway/index.ts'],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2023',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
    external: ['cloudflare:*', 'node:*'],
    loader: { '.sql': 'text' },
    sourcemap: 'inline',
    write: false,
    logLevel: 'warning',
  })
  const [file] = result.outputFiles
  if (!file) throw new Error('esbuild produced no output')
  return file.text
}
