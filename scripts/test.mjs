#!/usr/bin/env node
// `npm test`: typecheck, lint, then every vitest project (unit, integration, conformance).
// Ends with one line the CI machinery reads: `N passed, N failed` (`, N skipped` if any).
// Typecheck and lint each count as one check. Extra arguments go to vitest
// (e.g. `npm test -- test/sim`), and then typecheck and lint are skipped.
import { spawnSync } from 'node:child_process'
import { readFileSync, rmSync, existsSync } from 'node:fs'

const extra = process.argv.slice(2)
const resultsFile = '.test-results.json'
let passed = 0
let failed = 0
let skipped = 0

function step(name, cmd, args) {
  console.log(`\n▶ ${name}: ${cmd} ${args.join(' ')}`)
  const r = spawnSync(cmd, args, { stdio: 'inherit', shell: false })
  if (r.status === 0) passed++
  else {
    failed++
    console.log(`✗ ${name} failed (exit ${r.status})`)
  }
}

if (extra.length === 0) {
  step('typecheck (src)', 'tsc', ['-p', 'tsconfig.json'])
  step('typecheck (tests)', 'tsc', ['-p', 'tsconfig.test.json'])
  step('lint', 'eslint', ['.'])
  step('format', 'prettier', ['--check', '.'])
}

rmSync(resultsFile, { force: true })
console.log('\n▶ vitest')
const v = spawnSync(
  'vitest',
  ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${resultsFile}`, ...extra],
  { stdio: 'inherit' },
)
if (existsSync(resultsFile)) {
  const r = JSON.parse(readFileSync(resultsFile, 'utf8'))
  passed += r.numPassedTests
  failed += r.numFailedTests
  skipped += r.numPendingTests + r.numTodoTests
  // A suite that failed to load has no tests to count: count it as a failure.
  for (const file of r.testResults ?? []) {
    if (file.status === 'failed' && (file.assertionResults ?? []).length === 0) failed++
  }
} else {
  failed++
}
if (v.status !== 0 && failed === 0) failed++

console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(failed === 0 ? 0 : 1)
