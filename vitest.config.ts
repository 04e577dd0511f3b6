import { defineConfig } from 'vitest/config'
import { sqlAsText } from './vitest.sql-plugin.ts'

// Three projects: pure unit tests (and the simulator), integration tests against the real
// runtime (workerd through Miniflare, real Durable Objects with SQLite, over HTTP), and
// conformance tests that replay the same requests against real etcd.
export default defineConfig({
  plugins: [sqlAsText()],
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/sim/**/*.test.ts', 'test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'conformance',
          include: ['test/conformance/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
})
