// What the referral submission statement does per referral, counted rather than timed: buffers
// touched and WAL records and bytes by EXPLAIN (ANALYZE, BUFFERS, WAL), which a loaded machine does not
// change (its execution times it does). Submits one referral through the hub (its own schema) to
// capture the statement and its input as the hub sends them, then runs that statement RUNS times with
// fresh ids for batches of 1 and 16 referrals, and prints medians (and means) per referral.
//
//   npx tsx bench/submission-statement.ts [RUNS=200]
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { buildApp } from '../src/app.js'
import { signReferral } from '../src/sdk/documents.js'
import { addAgency } from '../test/helpers/agencies.js'
import { provisionTestServices } from '../test/helpers/build-app.js'
import { DATABASE_URL, testConfig } from '../test/helpers/env.js'
import { referralDocument } from '../test/helpers/referrals.js'

const runs = Number(process.argv[2] ?? 200)
// The hub keeps the statement to itself: take it as node-postgres sends it.
let captured: { text: string; values: unknown[] } | undefined
const original = pg.Client.prototype.query as any
;(pg.Client.prototype as any).query = function (this: unknown, config: any, values: any, cb: any) {
  const text = typeof config === 'string' ? config : config?.text
  if (typeof text === 'string' && text.includes('with input as materialized')) {
    captured = { text, values: (typeof config === 'object' ? config.values : values) ?? values }
  }
  return original.call(this, config, values, cb)
}

const teardowns: (() => unknown)[] = []
const config = await testConfig({ LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '1000000000' })
await provisionTestServices({ teardown: (fn) => teardowns.push(fn) }, config)
const app = await buildApp(config, { logStream: process.stderr })
await app.ready()
const ro = await addAgency(app, { country: 'RO' })
await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
await ro.client.request('POST', '/v1/referrals', {
  jws: await signReferral(referralDocument(ro, { country: 'DE' }), ro.keys.signing),
})
if (!captured) throw new Error('no statement captured')
const template = JSON.parse(String(captured.values[0]))[0]
const sql = captured.text.replace('/* trm:prepared */ ', '')

function entry(n: number) {
  let text = JSON.stringify({ ...template, n })
  for (const id of [template.referral.id, template.message.id, template.webhook?.id].filter(Boolean)) {
    text = text.replaceAll(id, randomUUID())
  }
  return JSON.parse(text)
}

const client = new pg.Client({
  connectionString: DATABASE_URL,
  options: `-c search_path=${config.databaseSchema} -c jit=off`,
})
await client.connect()
const results: Record<number, Record<string, number[]>> = {}
for (const batch of [1, 16]) {
  results[batch] = {}
  for (let i = 0; i < runs; i++) {
    const input = JSON.stringify(Array.from({ length: batch }, (_, n) => entry(n)))
    const { rows } = await client.query(`explain (analyze, buffers, wal, format json) ${sql}`, [input])
    const plan = rows[0]['QUERY PLAN'][0]
    const top = plan.Plan
    // Each insert is a ModifyTable node (a CTE); its figures cover its subtree, and none nests another.
    const writes = { hit: 0, dirtied: 0, records: 0, bytes: 0, fpi: 0, inserts: 0 }
    const walk = (node: any) => {
      if (node['Node Type'] === 'ModifyTable') {
        writes.hit += node['Shared Hit Blocks']
        writes.dirtied += node['Shared Dirtied Blocks']
        writes.records += node['WAL Records']
        writes.bytes += node['WAL Bytes']
        writes.fpi += node['WAL FPI']
        writes.inserts += node['Actual Rows'] ?? 0
      }
      for (const child of node.Plans ?? []) walk(child)
    }
    walk(top)
    const figures: Record<string, number> = {
      'execution ms': plan['Execution Time'],
      'planning ms': plan['Planning Time'],
      'writes: shared hit': writes.hit,
      'writes: shared dirtied': writes.dirtied,
      'WAL records': writes.records,
      'WAL bytes': writes.bytes,
      'WAL FPI': writes.fpi,
      'gate and answer: shared hit': top['Shared Hit Blocks'],
    }
    for (const [k, v] of Object.entries(figures)) {
      results[batch]![k] ??= []
      results[batch]![k]!.push(v / batch)
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
for (const batch of [1, 16]) {
  const line = Object.entries(results[batch]!).map(
    ([k, v]) =>
      `${k} ${median(v).toFixed(k.includes('ms') ? 3 : 1)} (mean ${mean(v).toFixed(k.includes('ms') ? 3 : 1)})`,
  )
  console.log(`batch ${batch}, per referral: ${line.join('; ')}`)
}
await client.end()
await app.close()
for (const fn of teardowns.reverse()) await fn()
process.exit(0)
