import type { Plugin } from 'vite'

/** Loads migrations/*.sql as text in tests, as esbuild and wrangler do in the bundle. */
export function sqlAsText(): Plugin {
  return {
    name: 'sql-as-text',
    transform(code, id) {
      if (!id.endsWith('.sql')) return null
      return { code: `export default ${JSON.stringify(code)}`, map: null }
    },
  }
}
