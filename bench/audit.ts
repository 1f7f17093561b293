// Referral submission latency with and without the audit sealer running: POST /v1/referrals over
// loopback HTTP against the real Postgres and Redis, the sealer (when on) in its own process as in
// production (the worker), with its default 500 ms sweep.
//
//   npx tsx bench/audit.ts [REQUESTS=500] [CONCURRENCY=16] [--rounds 1] [--warmup 300]
//
// Each round is one run with the sealer off and one with it on, in alternating order (--rounds N: N
// pairs), on one schema, so both see the same table sizes. Documents are signed before the clock starts. After each
// run: how long the events took from their request's transaction to their checkpoint (on), or how
// long sealing the backlog took afterwards (off).
import { spawn } from 'node:child_process'
import { availableParallelism, cpus } from 'node:os'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { sql } from 'kysely'
import { pino } from 'pino'
import { buildApp } from '../src/app.js'
import { createDb } from '../src/db/create-db.js'
import { startAuditSealer } from '../src/jobs/audit-sealer.js'
import { loadHubKeys } from '../src/lib/hub-keys.js'
import { sealPending } from '../src/modules/audit/audit.service.js'
import { signReferral } from '../src/sdk/documents.js'
import { addAgency, type TestAgency } from '../test/helpers/agencies.js'
import { provisionTestServices } from '../test/helpers/build-app.js'
import { testConfig, uniqueName } from '../test/helpers/env.js'
import { referralDocument } from '../test/helpers/referrals.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '1' },
    warmup: { type: 'string', default: '300' },
    // Internal: run as the sealer process for the schema named in the environment.
    sealer: { type: 'boolean', default: false },
  },
})

/** The sealer alone, as the worker runs it; prints `ready`, stops on SIGTERM. */
async function sealerProcess() {
  const config = await testConfig({
    DATABASE_SCHEMA: process.env['BENCH_SCHEMA']!,
    HUB_SIGNING_KEYS: process.env['BENCH_HUB_KEYS']!,
  })
  const { db, pool } = createDb(config, 'trm-bench-sealer')
  const hubKeys = await loadHubKeys(config.hubKeys)
  const sealer = await startAuditSealer({
    db,
    pool,
    hubKeys,
    origin: config.auditLog.origin,
    log: pino({ level: 'warn' }, process.stderr),
  })
  process.stdout.write('ready\n')
  process.once('SIGTERM', async () => {
    await sealer.close()
    await db.destroy()
    process.exit(0)
  })
}

async function main() {
  const requests = Number(positionals[0] ?? 500)
  const concurrency = Number(positionals[1] ?? 16)
  const rounds = Number(values.rounds)
  const warmup = Number(values.warmup)
  if (
    ![requests, concurrency, rounds, warmup].every((n) => Number.isInteger(n) && n >= 0) ||
    concurrency < 1
  ) {
    process.stderr.write('usage: tsx bench/audit.ts [REQUESTS] [CONCURRENCY] [--rounds N] [--warmup N]\n')
    process.exit(2)
  }
  const nullStream = new Writable({ write: (_chunk, _encoding, done) => done() })
  const teardowns: (() => unknown)[] = []
  const config = await testConfig({
    DATABASE_SCHEMA: uniqueName('bench'),
    QUEUE_PREFIX: `{${uniqueName('bench')}}`,
    PUBLIC_URL: 'http://hub.bench',
    RATE_LIMIT_MAX: '100000000',
  })
  await provisionTestServices({ teardown: (fn) => void teardowns.push(fn) }, config)
  let app: FastifyInstance | undefined
  try {
    app = await buildApp(config, { logStream: nullStream })
    await app.ready()
    const ro = await addAgency(app, { country: 'RO' })
    const de = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
    const url = `${await app.listen({ host: '127.0.0.1', port: 0 })}/v1/referrals`
    const token = await ro.client.accessToken()
    const lines = [
      `referral submission: ${requests} requests per round, concurrency ${concurrency}, ${warmup} warm-up`,
      `machine: ${availableParallelism()} CPUs (${cpus()[0]?.model.trim()}), node ${process.version}`,
    ]
    await fire(url, token, await sign(ro, de, warmup), concurrency)
    await sealPending({ db: app.db, hubKeys: app.hubKeys, origin: app.config.auditLog.origin })
    const p50s = { off: [] as number[], on: [] as number[] }
    const p99s = { off: [] as number[], on: [] as number[] }
    for (let run = 0; run < rounds * 2; run += 1) {
      // off, on, then on, off: a drift in the machine's speed favours neither.
      const sealerOn = (run % 2 === 1) !== (Math.floor(run / 2) % 2 === 1)
      const documents = await sign(ro, de, requests)
      const sealer = sealerOn ? await startSealerProcess(config) : undefined
      const firstSeq = ((
        await app.db
          .selectFrom('audit_checkpoints')
          .select((eb) => eb.fn.max('seq').as('s'))
          .executeTakeFirst()
      )?.s ?? 0) as number
      const result = await fire(url, token, documents, concurrency)
      const sorted = [...result.latencies].sort((a, b) => a - b)
      const errors = requests - (result.statuses.get('201') ?? 0)
      p50s[sealerOn ? 'on' : 'off'].push(percentile(sorted, 50))
      p99s[sealerOn ? 'on' : 'off'].push(percentile(sorted, 99))
      let after: string
      if (sealer) {
        const drained = performance.now()
        while ((await unsealed(app)) > 0) await new Promise((r) => setTimeout(r, 10))
        const tail = performance.now() - drained
        await sealer.stop()
        const lag = await sealingLag(app, firstSeq)
        after = `sealed while running: event to checkpoint p50 ${ms(lag.p50)}, p99 ${ms(lag.p99)}, max ${ms(lag.max)}; ${lag.checkpoints} checkpoints; last sealed ${ms(tail)} after the last response`
      } else {
        const started = performance.now()
        const sealed = await sealPending({
          db: app.db,
          hubKeys: app.hubKeys,
          origin: app.config.auditLog.origin,
        })
        after = `sealer off: ${sealed} events sealed afterwards in ${ms(performance.now() - started)}`
      }
      lines.push(
        `sealer ${sealerOn ? 'on ' : 'off'}: ${(requests / result.seconds).toFixed(0)} requests/s, p50 ${ms(percentile(sorted, 50))}, p99 ${ms(percentile(sorted, 99))}, max ${ms(sorted.at(-1) ?? Number.NaN)}, errors ${errors}`,
        `  ${after}`,
      )
      if (errors > 0) process.exitCode = 1
    }
    const median = (values: number[]) =>
      percentile(
        [...values].sort((a, b) => a - b),
        50,
      )
    for (const mode of ['off', 'on'] as const) {
      lines.push(
        `median of ${rounds} run(s), sealer ${mode}: p50 ${ms(median(p50s[mode]))}, p99 ${ms(median(p99s[mode]))}`,
      )
    }
    process.stdout.write(`${lines.join('\n')}\n`)
  } finally {
    await app?.close()
    for (const fn of teardowns.reverse()) await fn()
  }
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
const ms = (n: number) => `${n.toFixed(1)} ms`

function sign(from: TestAgency, to: TestAgency, count: number) {
  return Promise.all(
    Array.from({ length: count }, () =>
      signReferral(referralDocument(from, { agencyId: to.id }), from.keys.signing),
    ),
  )
}

async function fire(url: string, token: string, documents: string[], concurrency: number) {
  const latencies: number[] = []
  const statuses = new Map<string, number>()
  let next = 0
  const one = async () => {
    while (next < documents.length) {
      const body = JSON.stringify({ jws: documents[next++]! })
      const started = performance.now()
      let status: string
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body,
        })
        await response.arrayBuffer()
        status = String(response.status)
      } catch (error) {
        status = (error as Error).name
      }
      latencies.push(performance.now() - started)
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, one))
  return { seconds: (performance.now() - started) / 1000, latencies, statuses }
}

async function unsealed(app: FastifyInstance) {
  const row = await app.db
    .selectFrom('audit_events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('seq', 'is', null)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

/** From each event's transaction start (its `at`) to the checkpoint that covers it. */
async function sealingLag(app: FastifyInstance, afterSeq: number) {
  const { rows } = await sql<{ lag: number }>`
    select extract(epoch from (c.at - e.at)) * 1000 as lag
    from audit_events e
    cross join lateral (select at from audit_checkpoints where seq >= e.seq order by seq limit 1) c
    where e.seq > ${afterSeq}
    order by lag`.execute(app.db)
  const lags = rows.map((r) => Number(r.lag))
  const checkpoints = await app.db
    .selectFrom('audit_checkpoints')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('seq', '>', afterSeq)
    .executeTakeFirstOrThrow()
  return {
    p50: percentile(lags, 50),
    p99: percentile(lags, 99),
    max: lags.at(-1) ?? Number.NaN,
    checkpoints: Number(checkpoints.n),
  }
}

/** The sealer in a process of its own, like the worker in production. */
async function startSealerProcess(config: Awaited<ReturnType<typeof testConfig>>) {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--sealer'], {
    env: { ...process.env, BENCH_SCHEMA: config.databaseSchema, BENCH_HUB_KEYS: config.hubKeys.json },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve())
    child.once('exit', (code) => reject(new Error(`sealer process exited with ${code}`)))
  })
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}

if (values.sealer) await sealerProcess()
else await main()
