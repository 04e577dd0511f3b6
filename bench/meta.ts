// What every bench result records about itself: the edge-etcd commit measured, and JSON written
// as the repo's Prettier formats it (so a result copied into bench/results/ passes lint).
import { execFileSync } from 'node:child_process'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** JSON as the repo's Prettier formats it. */
export async function formatJson(text: string): Promise<string> {
  try {
    const prettier = await import('prettier')
    return await prettier.format(text, { parser: 'json' })
  } catch {
    return text
  }
}

/** The edge-etcd commit measured (BENCH_REVISION names it when running from an exported tree). */
export function gitRevision(): string | undefined {
  if (process.env['BENCH_REVISION']) return process.env['BENCH_REVISION']
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: projectRoot,
      encoding: 'utf8',
    }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'migrations'], {
      cwd: projectRoot,
      encoding: 'utf8',
    }).trim()
    return dirty ? `${rev}+uncommitted changes in src/ or migrations/` : rev
  } catch {
    return undefined
  }
}
