// Token issuance per second: POST /v1/oauth/token with a fresh private_key_jwt assertion each time,
// against the real Postgres and Redis, over loopback HTTP.
//
//   npx tsx bench/token.ts [REQUESTS=3000] [CONCURRENCY=16] [--alg ES256|EdDSA] [--warmup 200]
//
// Assertions are signed before the clock starts, so the figure is the hub's cost (plus the
// in-process fetch client's); their signing rate is reported on its own line.
import { availableParallelism, cpus } from 'node:os'
import { Writable } from 'node:stream'
import { parseArgs } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../src/app.js'
import { createClientAssertion } from '../src/sdk/client-assertion.js'
import { generateAgencyKeys, type SigningAlg } from '../src/sdk/keys.js'
import { addAgency } from '../test/helpers/agencies.js'
import { provisionTestServices } from '../test/helpers/build-app.js'
import { testConfig, uniqueName } from '../test/helpers/env.js'

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    alg: { type: 'string', default: 'ES256' },
    warmup: { type: 'string', default: '200' },
  },
})
const requests = Number(positionals[0] ?? 3000)
const concurrency = Number(positionals[1] ?? 16)
const warmup = Number(values.warmup)
const alg = values.alg as SigningAlg
if (![requests, concurrency, warmup].every((n) => Number.isInteger(n) && n >= 0) || concurrency < 1) {
  process.stderr.write(
    'usage: tsx bench/token.ts [REQUESTS] [CONCURRENCY] [--alg ES256|EdDSA] [--warmup N]\n',
  )
  process.exit(2)
}
if (alg !== 'ES256' && alg !== 'EdDSA') {
  process.stderr.write('--alg is ES256 or EdDSA\n')
  process.exit(2)
}

/** Discards the log (the app still formats every line, as it would for stdout). */
const nullStream = new Writable({ write: (_chunk, _encoding, done) => done() })

const teardowns: (() => unknown)[] = []
const fakeTap = { teardown: (fn: () => unknown) => void teardowns.push(fn) }

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
const ms = (n: number) => `${n.toFixed(2)} ms`

async function fire(url: string, assertions: string[]) {
  const latencies: number[] = []
  const statuses = new Map<string, number>()
  let next = 0
  const one = async () => {
    while (next < assertions.length) {
      const assertion = assertions[next++]!
      const body = new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: assertion,
      }).toString()
      const started = performance.now()
      let status: string
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body,
        })
        const json = (await response.json()) as { access_token?: string }
        status = response.status === 200 && json.access_token ? '200' : String(response.status)
      } catch (error) {
        status = (error as Error).name
      }
      latencies.push(performance.now() - started)
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
    }
  }
  const started = performance.now()
  const cpuBefore = process.cpuUsage()
  await Promise.all(Array.from({ length: concurrency }, one))
  const seconds = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpuBefore)
  return { seconds, latencies, statuses, cpuShare: (cpu.user + cpu.system) / 1e6 / seconds }
}

async function main() {
  const config = await testConfig({
    DATABASE_SCHEMA: uniqueName('bench'),
    QUEUE_PREFIX: `{${uniqueName('bench')}}`,
    PUBLIC_URL: 'http://hub.bench',
    LOG_LEVEL: 'info',
    // The limiter still runs (its Redis round trip is part of the cost); it must just not refuse.
    RATE_LIMIT_MAX: '100000000',
    RATE_LIMIT_TOKEN_MAX: '100000000',
  })
  await provisionTestServices(fakeTap, config)
  let app: FastifyInstance | undefined
  try {
    app = await buildApp(config, { logStream: nullStream })
    await app.ready()
    const agency = await addAgency(app, { kind: 'ngo', alg })
    const address = await app.listen({ host: '127.0.0.1', port: 0 })
    const tokenUrl = `${config.publicUrl}/v1/oauth/token`

    const sign = async (n: number) => {
      const out: string[] = []
      for (let i = 0; i < n; i += 1) {
        // 240 s: the hub takes at most 300 s of lifetime, and the whole run must fit inside it.
        out.push(
          await createClientAssertion(agency.id, agency.keys.signing, tokenUrl, { lifetimeSeconds: 240 }),
        )
      }
      return out
    }
    const signStarted = performance.now()
    const timed = await sign(requests)
    const signSeconds = (performance.now() - signStarted) / 1000
    const warm = await sign(warmup)

    await fire(`${address}/v1/oauth/token`, warm)
    const run = await fire(`${address}/v1/oauth/token`, timed)

    const issued = await app.db
      .selectFrom('audit_events')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('action', '=', 'token.issued')
      .executeTakeFirstOrThrow()
    const sorted = [...run.latencies].sort((a, b) => a - b)
    const errors = requests - (run.statuses.get('200') ?? 0)
    const lines = [
      `token issuance: ${requests} requests, concurrency ${concurrency}, ${alg} assertions, ${warmup} warm-up`,
      `machine: ${availableParallelism()} CPUs (${cpus()[0]?.model.trim()}), node ${process.version}`,
      `throughput: ${(requests / run.seconds).toFixed(0)} requests/s (${run.seconds.toFixed(2)} s)`,
      `latency: p50 ${ms(percentile(sorted, 50))}, p99 ${ms(percentile(sorted, 99))}, max ${ms(sorted.at(-1) ?? Number.NaN)}`,
      `errors: ${errors}${errors > 0 ? ` (${[...run.statuses].map(([s, n]) => `${s}: ${n}`).join(', ')})` : ''}`,
      `this process (hub and client): ${(run.cpuShare * 100).toFixed(0)}% of one CPU during the run`,
      `audit: ${issued.n} token.issued events (expected ${requests + warmup})`,
      `assertion signing (client side, not timed above): ${(requests / signSeconds).toFixed(0)} assertions/s`,
    ]
    process.stdout.write(`${lines.join('\n')}\n`)
    if (errors > 0) process.exitCode = 1
  } finally {
    await app?.close()
    for (const fn of teardowns.reverse()) await fn()
  }
}

// Generating one key pair first keeps jose's lazy crypto set-up out of the signing figure.
await generateAgencyKeys(alg)
await main()
