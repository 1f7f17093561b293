// The transparency log at size (issue 17): how fast the worker seals a backlog of audit events into
// the tree, and how fast the API serves inclusion proofs once the tree holds them, measured on the
// hub as deployed (API and worker as separate processes from dist/).
//
//   npm run build
//   npx tsx bench/audit-proofs.ts                 # --leaves 1000000 --proofs 2000 --warmup 200 --concurrency 1,8
//                                                 # --services shared|private --keep --cpu-prof DIR
//
// 1. `trm migrate` in a schema of the run's own; `--leaves` audit events are inserted by set-based
//    INSERTs straight into audit_events (invented system events, as the hub's own writers would
//    insert them: one row each, nothing else), before the hub starts.
// 2. The API and the worker start; the worker's sealer seals the whole backlog into tiles and
//    checkpoints. Reported: the time from the worker's start to a checkpoint of the full size, and
//    events sealed per second (the sealer's backlog rate, not a steady state).
// 3. The operator asks GET /v1/audit/proofs/inclusion?index=I&size=N for `--proofs` random leaves,
//    once at each concurrency, over loopback HTTP with keep-alive, after a CHECKPOINT (the sealing's
//    writes flushed) and `--warmup` untimed proofs. Each answer is verified against
//    the checkpoint's root (its leaf hash read from audit_leaves, outside the timing). Reported:
//    p50, p99, p99.9 and max of the request's round trip as the client sees it.
import { randomInt } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { verifyInclusion } from '../src/lib/tlog/index.js'
import { testHubKeys, uniqueName } from '../test/helpers/env.js'
import { DeployedHub, distProblem, openServices, type Services } from './lib/deployed-hub.js'
import { commitOf } from './lib/drill-hub.js'
import { fmtMs, out, table } from './lib/format.js'
import { exchange } from './lib/http.js'

const { values } = parseArgs({
  options: {
    leaves: { type: 'string', default: '1000000' },
    proofs: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '1,8' },
    services: { type: 'string', default: 'shared' },
    keep: { type: 'boolean', default: false },
    /** Writes CPU profiles of the API and the worker (their whole lives) there. */
    'cpu-prof': { type: 'string' },
  },
})
const LEAVES = Number(values.leaves)
const PROOFS = Number(values.proofs)
const WARMUP = Number(values.warmup)
const CONCURRENCY = values.concurrency.split(',').map(Number)
const BATCH = 100_000
const log = (message: string) => process.stderr.write(`[audit-proofs] ${message}\n`)

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]

/** Inserts `count` invented system events into the schema's audit_events, a batch per statement. */
async function seedEvents(db: pg.Client, schema: string, count: number): Promise<void> {
  for (let from = 0; from < count; from += BATCH) {
    const n = Math.min(BATCH, count - from)
    await db.query(
      `insert into ${pg.escapeIdentifier(schema)}.audit_events (actor, action, target_type, target_id, outcome, details)
       select 'system', 'bench.event', 'bench', 'bench-' || i, 'success', jsonb_build_object('n', i)
       from generate_series($1::int, $2::int) as i`,
      [from + 1, from + n],
    )
    log(`seeded ${from + n} of ${count} events`)
  }
}

interface CheckpointJson {
  size: number
  rootHash: string
}

async function main(): Promise<void> {
  const problem = await distProblem()
  if (problem) {
    log(problem)
    process.exit(2)
  }
  const dir = mkdtempSync(join(tmpdir(), 'trm-audit-proofs-'))
  const schema = uniqueName('bench_proofs')
  let svc: Services | undefined
  let hub: DeployedHub | undefined
  let db: pg.Client | undefined
  try {
    svc = await openServices(values.services as 'shared' | 'private', dir)
    db = new pg.Client({ connectionString: svc.databaseUrl })
    await db.connect()
    hub = new DeployedHub({
      services: svc,
      schema,
      queuePrefix: `{${schema}}`,
      hubKeys: await testHubKeys(),
      logDir: dir,
      ...(values['cpu-prof'] ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] } : {}),
    })
    out(
      `# bench/audit-proofs.ts --leaves ${LEAVES} --proofs ${PROOFS} --warmup ${WARMUP} --concurrency ${values.concurrency}`,
    )
    out(`commit ${await commitOf(process.cwd())}; services ${svc.kind}; ${new Date().toISOString()}`)
    await hub.migrate()
    const operator = await hub.registerAgency({
      name: 'Bench operator (fictional)',
      country: 'BE',
      kind: 'hub_operator',
    })
    await seedEvents(db, schema, LEAVES)
    await db.query(`vacuum analyze ${pg.escapeIdentifier(schema)}.audit_events`)

    const started = performance.now()
    await hub.start()
    const client = hub.client(operator)
    const token = await client.accessToken()
    let checkpoint: CheckpointJson | undefined
    // The operator's own registration is an audit event too: the tree ends up a little larger.
    for (;;) {
      checkpoint = await client.request<CheckpointJson>('GET', '/v1/audit/checkpoint')
      if (checkpoint.size >= LEAVES) break
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    const sealSeconds = (performance.now() - started) / 1000
    out()
    out(
      table(
        ['tree size', 'worker start → checkpoint of that size', 'events sealed per second (backlog)'],
        [
          [
            String(checkpoint.size),
            `${sealSeconds.toFixed(1)} s`,
            (checkpoint.size / sealSeconds).toFixed(0),
          ],
        ],
      ),
    )

    // Settled, as bench/referrals.ts settles before each run: the sealing's writes flushed, so the
    // proofs are not timed against a checkpoint writing a million leaves out.
    await db.query('checkpoint')
    const root = Buffer.from(checkpoint.rootHash, 'base64')
    const port = hub.port
    const size = checkpoint.size
    const rows: string[][] = []
    for (const concurrency of CONCURRENCY) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency })
      const indices = Array.from({ length: WARMUP + PROOFS }, () => randomInt(size))
      const times: number[] = []
      const answers: { index: number; hashes: string[] }[] = []
      let next = 0
      const runner = async () => {
        while (next < indices.length) {
          const n = next++
          const index = indices[n]!
          const t0 = performance.now()
          const answer = await exchange(agent, {
            host: '127.0.0.1',
            port: port,
            method: 'GET',
            path: `/v1/audit/proofs/inclusion?index=${index}&size=${size}`,
            headers: { authorization: `Bearer ${token}` },
            deadline: t0 + 30_000,
            keepBody: () => true,
          })
          if (n >= WARMUP) times.push(answer.end - t0)
          if (answer.status !== '200')
            throw new Error(`inclusion proof ${index}: HTTP ${answer.status} ${answer.body ?? ''}`)
          answers.push({ index, hashes: (JSON.parse(answer.body ?? '{}') as { hashes: string[] }).hashes })
        }
      }
      await Promise.all(Array.from({ length: concurrency }, runner))
      agent.destroy()
      let verified = 0
      for (const { index, hashes } of answers) {
        const { rows: leaf } = await db.query<{ hash: Buffer }>(
          `select hash from ${pg.escapeIdentifier(schema)}.audit_leaves where index = $1`,
          [index],
        )
        const proof = hashes.map((h) => Buffer.from(h, 'base64'))
        if (leaf[0] && verifyInclusion(leaf[0].hash, index, size, proof, root)) verified += 1
      }
      times.sort((a, b) => a - b)
      rows.push([
        String(concurrency),
        String(times.length),
        `${verified}/${answers.length}`,
        fmtMs(quantile(times, 0.5)),
        fmtMs(quantile(times, 0.99)),
        fmtMs(quantile(times, 0.999)),
        fmtMs(times.at(-1)),
      ])
    }
    out()
    out(table(['concurrency', 'proofs', 'verified', 'p50', 'p99', 'p99.9', 'max'], rows))
    out()
    out('Target (issue 17): an inclusion proof at 1,000,000 leaves served in p99 < 10 ms.')
    if (hub.deaths.length > 0) throw new Error(`a hub process died: ${JSON.stringify(hub.deaths)}`)
  } finally {
    await hub?.stop()
    if (db && !values.keep) await db.query(`drop schema if exists ${pg.escapeIdentifier(schema)} cascade`)
    await db?.end()
    await svc?.stop()
    if (values.keep) log(`kept: ${dir}, schema ${schema}`)
    else rmSync(dir, { recursive: true, force: true })
  }
}

await main()
