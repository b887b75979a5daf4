// Adds up tap's closing summaries of both runs and prints the one line CI reads.
import { readFileSync } from 'node:fs'

const [pgLog, liteLog, failedSteps, ...statuses] = process.argv.slice(2)
let passed = 0
let failed = Number(failedSteps) || 0
let skipped = 0
for (const file of [pgLog, liteLog]) {
  const lines = readFileSync(file, 'utf8').split('\n')
  // Name what failed, so the last lines of a CI log say where to look (todo and skip are not failures).
  for (const line of lines) {
    if (/^\s*not ok \d+/.test(line) && !/# (TODO|SKIP)/i.test(line)) console.log(`${file}: ${line.trim()}`)
  }
  const summaries = lines.filter((l) => /^# \{ total: \d+/.test(l))
  const last = summaries.at(-1)
  if (!last) { failed += 1; continue }
  const field = (name) => Number(last.match(new RegExp(`${name}: (\\d+)`))?.[1] ?? 0)
  passed += field('pass')
  failed += field('fail')
  skipped += field('skip') + field('todo')
}
const runnerFailed = statuses.some((s) => s !== '0')
if (runnerFailed && failed === 0) failed = 1
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(failed > 0 ? 1 : 0)
