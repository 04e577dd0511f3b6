// Migrations are bundled as text (wrangler.toml [[rules]] Text, esbuild loader 'text').
declare module '*.sql' {
  const text: string
  export default text
}
