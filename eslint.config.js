// Lint rules. The important ones keep the pure core pure: src/raft, src/mvcc and src/api never
// do I/O, never read the clock and never draw randomness (STYLE.md §1), so they run unchanged in
// plain Node tests and in the deterministic simulator.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import globals from 'globals'

const pureFolders = ['src/raft/**/*.ts', 'src/mvcc/**/*.ts', 'src/api/**/*.ts']

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.data/**', '.wrangler/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: pureFolders,
    ignores: ['**/*.test.ts'],
    languageOptions: { globals: {} },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['cloudflare:*'], message: 'The pure core must not touch the platform.' },
            {
              group: ['hono', 'hono/*'],
              message: 'The pure core must not depend on the HTTP layer.',
            },
            {
              group: ['node:*', 'fs', 'net', 'http', 'https', 'crypto'],
              message: 'No I/O in the pure core.',
            },
            {
              group: ['**/member/**', '**/gateway/**'],
              message: 'The core must not import the shell.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        ...[
          'fetch',
          'setTimeout',
          'setInterval',
          'setImmediate',
          'queueMicrotask',
          'crypto',
          'performance',
          'WebSocket',
          'caches',
          'process',
          'XMLHttpRequest',
        ].map((name) => ({
          name,
          message: `${name} is I/O, time or randomness: inject it from the shell.`,
        })),
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Time enters the core as ticks.' },
        {
          object: 'Math',
          property: 'random',
          message: 'Randomness enters the core as a seeded Rng.',
        },
        { object: 'performance', property: 'now', message: 'Time enters the core as ticks.' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.name='Date']",
          message: 'Time enters the core as ticks.',
        },
        { selector: 'AwaitExpression', message: 'The core is synchronous: no await.' },
      ],
    },
  },
)
