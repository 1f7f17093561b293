// Referral submission under open-loop load: POST /v1/referrals with pre-signed documents against the
// real hub (buildApp, its own Postgres schema and Redis prefix), next to a bare baseline measured in
// the same run (Fastify + jose ES256 verify + one 3-insert transaction, bench/lib/baseline.ts).
//
//   npx tsx bench/referrals.ts [--rate 500] [--seconds 20] [--concurrency 32]
//                              [--warmup 3] [--sat-seconds 10] [--sat-budget 3000] [--timeout 30]
//                              [--cpu-prof DIR]
//
// Processes: this one runs the hub (and idles while the load runs); the baseline server and the
// load generator (bench/lib/loadgen.ts) are child processes (child_process.fork), so the generator's
// CPU is not taken from either server's event loop, though all of them share the machine's cores
// with Postgres and Redis. Runs, one after another: baseline then hub at the open-loop rate, then
// baseline then hub in a closed loop of `concurrency` requests for the saturation throughput.
// Everything it creates (two schemas, the Redis prefix) is removed at the end.
import { type ChildProcess, execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { sql } from 'kysely'
import pg from 'pg'
import { buildApp } from '../src/app.js'
import { addAgency } from '../test/helpers/agencies.js'
import { provisionTestServices } from '../test/helpers/build-app.js'
import { DATABASE_URL, REDIS_URL, testConfig, uniqueName } from '../test/helpers/env.js'
import { forkRole, percentile, type RunResult, type RunSpec, rpc } from './lib/ipc.js'
import { startProfile } from './lib/profile.js'

const USAGE =
  'usage: tsx bench/referrals.ts [--rate 500] [--seconds 20] [--concurrency 32] [--warmup 3] ' +
  '[--sat-seconds 10] [--sat-rounds 3] [--sat-budget 3000] [--timeout 30] [--cpu-prof DIR]\n'

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '32' },
    warmup: { type: 'string', default: '3' },
    'sat-seconds': { type: 'string', default: '10' },
    /** Closed-loop rounds, alternating baseline and hub; the saturation target is judged on the median. */
    'sat-rounds': { type: 'string', default: '3' },
    /** Documents signed per second of closed-loop run (the budget; the run stops early if spent). */
    'sat-budget': { type: 'string', default: '3000' },
    /** Seconds after its due time at which an unanswered request is abandoned and counted as an error. */
    timeout: { type: 'string', default: '30' },
    'cpu-prof': { type: 'string' },
  },
})
const rate = Number(values.rate)
const seconds = Number(values.seconds)
const concurrency = Number(values.concurrency)
const warmup = Number(values.warmup)
const satSeconds = Number(values['sat-seconds'])
const satRounds = Number(values['sat-rounds'])
const satBudget = Number(values['sat-budget'])
const timeoutSeconds = Number(values.timeout)
if (
  ![rate, seconds, concurrency, warmup, satSeconds, satRounds, satBudget, timeoutSeconds].every(
    (n) => Number.isFinite(n) && n >= 0,
  ) ||
  rate <= 0 ||
  seconds <= 0 ||
  concurrency < 1 ||
  satSeconds <= 0 ||
  !Number.isInteger(satRounds) ||
  satRounds < 1
) {
  process.stderr.write(USAGE)
  process.exit(2)
}
const SAT_WARMUP = 1
const POOL_MAX = 10 // the hub's default DATABASE_POOL_MAX; the baseline gets the same

// --- CPU accounting from /proc (Linux): per process, Postgres and Redis as groups, the whole machine.

const TICKS = 100 // USER_HZ on Linux
function processTicks(pid: number | string): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[11]) + Number(fields[12]) // utime, stime
  } catch {
    return 0
  }
}
/** Per-process ticks of Postgres and Redis, by pid: backends come and go during a run. */
function groupTicks(): { postgres: Map<string, number>; redis: Map<string, number> } {
  const postgres = new Map<string, number>()
  const redis = new Map<string, number>()
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    let comm: string
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
    } catch {
      continue
    }
    if (comm === 'postgres') postgres.set(pid, processTicks(pid))
    else if (comm === 'redis-server') redis.set(pid, processTicks(pid))
  }
  return { postgres, redis }
}
/** Ticks spent between two snapshots by the processes alive at the second (a new one counts whole). */
function groupDelta(before: Map<string, number>, after: Map<string, number>): number {
  let sum = 0
  for (const [pid, ticks] of after) sum += Math.max(0, ticks - (before.get(pid) ?? 0))
  return sum
}
function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!
  const n = line.trim().split(/\s+/).slice(1, 9).map(Number)
  const idle = n[3]! + n[4]! // idle + iowait
  const total = n.reduce((a, b) => a + b, 0)
  return { busy: total - idle, total }
}
interface CpuSnapshot {
  at: number
  server: number
  loadgen: number
  postgres: Map<string, number>
  redis: Map<string, number>
  machine: { busy: number; total: number }
}
const snapshot = (serverPid: number, loadgenPid: number): CpuSnapshot => ({
  at: performance.now(),
  server: processTicks(serverPid),
  loadgen: processTicks(loadgenPid),
  ...groupTicks(),
  machine: machineTicks(),
})
/** Shares of one core (100 % = one CPU busy for the whole run). */
function cpuShares(a: CpuSnapshot, b: CpuSnapshot) {
  const seconds = (b.at - a.at) / 1000
  const pct = (ticks: number) => (100 * ticks) / TICKS / seconds
  const busy = pct(b.machine.busy - a.machine.busy)
  const server = pct(b.server - a.server)
  const loadgen = pct(b.loadgen - a.loadgen)
  const postgres = pct(groupDelta(a.postgres, b.postgres))
  const redis = pct(groupDelta(a.redis, b.redis))
  return {
    server,
    loadgen,
    postgres,
    redis,
    other: Math.max(0, busy - server - loadgen - postgres - redis),
    busy,
  }
}

// --- Where each server's Postgres connections are: pg_stat_activity sampled every 50 ms (from this
// process, on a connection of its own: ~20 small queries per second), by application_name.

function waitSampler(databaseUrl: string) {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'trm-bench-sampler' })
  const ready = client.connect()
  ready.catch(() => {}) // surfaces in start()
  return {
    async start(applicationName: string) {
      await ready
      const counts = new Map<string, number>()
      let samples = 0
      let stopped = false
      const loop = (async () => {
        while (!stopped) {
          const { rows } = await client.query<{ what: string }>(
            `select state || ' | ' || coalesce(wait_event_type || ':' || wait_event, 'CPU') || ' | ' ||
                    regexp_replace(left(query, 48), '\\s+', ' ', 'g') as what
               from pg_stat_activity where application_name = $1 and state <> 'idle'`,
            [applicationName],
          )
          samples += 1
          for (const row of rows) counts.set(row.what, (counts.get(row.what) ?? 0) + 1)
          await sleep(50)
        }
      })()
      return async () => {
        stopped = true
        await loop
        return { samples, counts }
      }
    },
    /**
     * Waits until none of the server's connections has been busy for a whole second: after an
     * overloaded open-loop run the server goes on with requests the generator already gave up on,
     * and the next run must not share the machine with that backlog. Returns the seconds waited.
     */
    async quiet(applicationName: string, maxSeconds = 180): Promise<number> {
      await ready
      const started = performance.now()
      let idleSince = performance.now()
      while (performance.now() - idleSince < 1000 && performance.now() - started < maxSeconds * 1000) {
        const { rows } = await client.query<{ n: string }>(
          `select count(*) as n from pg_stat_activity where application_name = $1 and state <> 'idle'`,
          [applicationName],
        )
        if (Number(rows[0]?.n) > 0) idleSince = performance.now()
        await sleep(50)
      }
      return (performance.now() - started) / 1000 - 1
    },
    async dropSchemas(schemas: string[]) {
      await ready
      for (const schema of schemas) {
        await client.query(`drop schema if exists ${client.escapeIdentifier(schema)} cascade`)
      }
    },
    close: () => client.end(),
  }
}

/**
 * Deletes the keys under the hub's prefix. provisionTestServices' teardown tries too, but its client
 * (no offline queue) sends SCAN before it has connected, and the error is swallowed: nothing goes.
 */
async function deleteRedisPrefix(prefix: string): Promise<number> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
  redis.on('error', () => {})
  let deleted = 0
  try {
    await redis.connect()
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
      if (keys.length > 0) deleted += await redis.del(...keys)
      cursor = next
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
  return deleted
}

// --- Formatting.

const fmtMs = (n: number) =>
  Number.isNaN(n)
    ? '–'
    : n >= 100
      ? `${n.toFixed(0)} ms`
      : n >= 10
        ? `${n.toFixed(1)} ms`
        : `${n.toFixed(2)} ms`
const pct = (n: number) => `${n.toFixed(0)} %`
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n')
}
const out = (text = '') => process.stdout.write(`${text}\n`)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface Measured {
  /** Seconds spent waiting for the servers to finish the previous run's backlog before this run. */
  drained: number
  waits: { samples: number; counts: Map<string, number> }
  result: RunResult
  cpu: ReturnType<typeof cpuShares>
  sorted: number[]
  ok: number
  errors: number
}

async function main() {
  const teardowns: (() => unknown)[] = []
  const fakeTap = { teardown: (fn: () => unknown) => void teardowns.push(fn) }
  let app: FastifyInstance | undefined
  let loadgen: ChildProcess | undefined
  let baseline: ChildProcess | undefined
  const baseSchema = uniqueName('bench_base')
  // Distinct application names, so the sampler sees only this run's connections on a shared server
  // (a connection string's parameters take precedence over the pool's own application_name).
  const hubAppName = uniqueName('bench_hub')
  const baseAppName = uniqueName('bench_base')
  const sampler = waitSampler(DATABASE_URL)
  const queuePrefix = `{${uniqueName('bench_ref')}}`
  const hubSchema = uniqueName('bench_ref')
  let cleaned = false
  const cleanup = async () => {
    if (cleaned) return
    cleaned = true
    if (loadgen?.connected) loadgen.kill()
    if (baseline?.connected) baseline.kill()
    await app?.close()
    for (const fn of teardowns.reverse()) await fn()
    // Both schemas, whatever happened: provisionTestServices registers its teardown only once the
    // migrations succeeded, and the baseline may have died before dropping its own.
    await sampler
      .dropSchemas([hubSchema, baseSchema])
      .catch((error: unknown) =>
        process.stderr.write(`could not drop the schemas ${hubSchema}, ${baseSchema}: ${String(error)}\n`),
      )
    await sampler.close().catch(() => {})
    await deleteRedisPrefix(queuePrefix).catch((error: unknown) =>
      process.stderr.write(`could not delete the Redis keys under ${queuePrefix}: ${String(error)}\n`),
    )
  }
  process.once('SIGINT', () => {
    process.stderr.write('interrupted: cleaning up\n')
    void cleanup().finally(() => process.exit(130))
  })

  try {
    const config = await testConfig({
      DATABASE_URL: `${DATABASE_URL}${DATABASE_URL.includes('?') ? '&' : '?'}application_name=${hubAppName}`,
      DATABASE_SCHEMA: hubSchema,
      QUEUE_PREFIX: queuePrefix,
      PUBLIC_URL: 'http://hub.bench',
      LOG_LEVEL: 'warn',
      // The limiter still runs (its Redis round trip is part of the cost); it must just not refuse.
      // At the default (6000 per minute per client address) one client at 500/s is refused after 12 s.
      RATE_LIMIT_MAX: '1000000000',
    })
    await provisionTestServices(fakeTap, config)
    app = await buildApp(config, { logStream: process.stderr })
    await app.ready()
    const sender = await addAgency(app, { kind: 'ngo', country: 'RO', name: 'Bench NGO (fictional)' })
    await addAgency(app, {
      kind: 'national_agency',
      country: 'DE',
      ncp: true,
      name: 'Bench NCP (fictional)',
    })
    const token = await sender.client.accessToken()
    await app.listen({ host: '127.0.0.1', port: 0 })
    const hubAddress = app.server.address()
    const hubPort = typeof hubAddress === 'object' && hubAddress ? hubAddress.port : 0

    const pgRows = await sql<{ name: string; setting: string }>`
      select name, current_setting(name) as setting from unnest(array[
        'server_version', 'synchronous_commit', 'shared_buffers', 'fsync', 'wal_sync_method',
        'commit_delay', 'max_connections', 'work_mem', 'max_wal_size', 'autovacuum']) as name`.execute(app.db)
    const pgSettings = Object.fromEntries(pgRows.rows.map((r) => [r.name, r.setting]))
    // Dead catalog rows (from many schemas created and dropped, as the test suite does, with
    // autovacuum off) slow every statement down: reported, so a run can be told apart.
    const catalog = await sql<{ dead: string }>`
      select coalesce(sum(n_dead_tup), 0) as dead from pg_stat_sys_tables
      where relname in ('pg_attribute', 'pg_class', 'pg_depend', 'pg_type')`.execute(app.db)

    loadgen = forkRole('./loadgen.ts')
    baseline = forkRole('./baseline.ts')
    const toLoadgen = rpc(loadgen)
    const toBaseline = rpc(baseline)

    const openCount = Math.ceil(rate * (warmup + seconds)) + 10
    const satCount = Math.ceil(satBudget * (SAT_WARMUP + satSeconds))
    // The hub stores each document once, so every closed-loop round sends its own range.
    const closedRange = (round: number) => ({
      from: openCount + round * satCount,
      to: openCount + (round + 1) * satCount,
    })
    const publicJwk = sender.keys.publicJwks.keys.find((k) => k.use === 'sig')
    const [signed, base] = await Promise.all([
      toLoadgen<{ count: number; seconds: number; bytes: number }>({
        type: 'sign',
        count: openCount + satCount * satRounds,
        senderId: sender.id,
        signingJwk: sender.keys.signing,
        recipientCountry: 'DE',
      }),
      toBaseline<{ port: number; pid: number }>({
        type: 'start',
        databaseUrl: DATABASE_URL,
        schema: baseSchema,
        applicationName: baseAppName,
        poolMax: POOL_MAX,
        publicJwk,
      }),
    ])

    const load1 = loadavg()[0]!
    out(`# Referral submission benchmark`)
    out()
    out(
      `machine: ${availableParallelism()} CPUs (${cpus()[0]?.model.trim()}), node ${process.version}, ` +
        `load average ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')} before the runs`,
    )
    out(
      `postgres ${pgSettings['server_version']}: synchronous_commit=${pgSettings['synchronous_commit']}, ` +
        `shared_buffers=${pgSettings['shared_buffers']}, fsync=${pgSettings['fsync']}, ` +
        `wal_sync_method=${pgSettings['wal_sync_method']}, commit_delay=${pgSettings['commit_delay']}, ` +
        `max_connections=${pgSettings['max_connections']}, max_wal_size=${pgSettings['max_wal_size']}, ` +
        `autovacuum=${pgSettings['autovacuum']}; dead rows in the main catalogs: ${catalog.rows[0]!.dead}`,
    )
    out(
      `processes: hub = this process (pid ${process.pid}, LOG_LEVEL=warn, pool ${config.databasePoolMax}); ` +
        `baseline = child process (pid ${base.pid}, pool ${POOL_MAX}); ` +
        `load generator = child process (child_process.fork, pid ${loadgen.pid}, node:http keep-alive)`,
    )
    out(
      `documents: ${signed.count} referrals pre-signed (ES256) in the load generator before timing, ` +
        `${(signed.count / signed.seconds).toFixed(0)}/s; request body ${signed.bytes} bytes; ` +
        `each server gets every document at most once`,
    )
    out(`hub code: ${hubRevision()}`)
    if (load1 > 0.5) {
      out(`note: the machine was not idle before the runs (1-minute load ${load1.toFixed(2)})`)
    }
    out()

    const targets = {
      hub: {
        port: hubPort,
        pid: process.pid,
        appName: hubAppName,
        headers: { authorization: `Bearer ${token}` },
      },
      baseline: {
        port: base.port,
        pid: base.pid,
        appName: baseAppName,
        headers: {} as Record<string, string>,
      },
    }
    const measure = async (
      who: 'hub' | 'baseline',
      mode: 'open' | 'closed',
      extra: { profile?: string; round?: number } = {},
    ): Promise<Measured> => {
      const target = targets[who]
      const spec: RunSpec = {
        label: who,
        host: '127.0.0.1',
        port: target.port,
        path: '/v1/referrals',
        headers: { 'content-type': 'application/json', ...target.headers },
        mode,
        rate,
        warmupSeconds: mode === 'open' ? warmup : SAT_WARMUP,
        seconds: mode === 'open' ? seconds : satSeconds,
        concurrency,
        ...(mode === 'open' ? { from: 0, to: openCount } : closedRange(extra.round ?? 0)),
        expectStatus: 201,
        timeoutMs: timeoutSeconds * 1000,
      }
      // Start every run from the same state: no backlog of the last run in either server, and no
      // checkpoint of the previous run's writes inside this one.
      const drained =
        (await sampler.quiet(targets.hub.appName)) + (await sampler.quiet(targets.baseline.appName))
      await sql`checkpoint`.execute(app!.db)
      await sleep(1000)
      process.stderr.write(
        `running: ${who}, ${mode} loop${mode === 'closed' ? `, round ${(extra.round ?? 0) + 1}` : ''}\n`,
      )
      const stopProfile = extra.profile ? await startProfile() : undefined
      const stopSampling = await sampler.start(target.appName)
      const before = snapshot(target.pid, loadgen!.pid!)
      const result = await toLoadgen<RunResult>({ type: 'run', spec })
      const after = snapshot(target.pid, loadgen!.pid!)
      const waits = await stopSampling()
      if (stopProfile && extra.profile) await stopProfile(extra.profile)
      const ok = result.statuses['201'] ?? 0
      return {
        drained,
        waits,
        result,
        cpu: cpuShares(before, after),
        sorted: [...result.latencies].sort((a, b) => a - b),
        ok,
        errors: result.latencies.length - ok,
      }
    }

    const profileDir = values['cpu-prof']
    const baseOpen = await measure('baseline', 'open')
    const hubOpen = await measure(
      'hub',
      'open',
      profileDir ? { profile: join(profileDir, `hub-open-${Date.now()}.cpuprofile`) } : {},
    )
    // Saturation in alternating rounds (baseline, hub, baseline, hub, ...): the ratio of each round is
    // taken between runs a few seconds apart, and the target is judged on the median round, so one
    // disturbed window on this shared machine neither makes nor breaks it. Every round is reported.
    const baseRounds: Measured[] = []
    const hubRounds: Measured[] = []
    for (let round = 0; round < satRounds; round++) {
      baseRounds.push(await measure('baseline', 'closed', { round }))
      hubRounds.push(
        await measure('hub', 'closed', {
          round,
          ...(profileDir && round === 0
            ? { profile: join(profileDir, `hub-closed-${Date.now()}.cpuprofile`) }
            : {}),
        }),
      )
    }

    // Every 201 must be a stored referral (and nothing else stored): the figures count real work.
    const hubRows = await app.db
      .selectFrom('referrals')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow()
    const baseRows = await sql<{
      n: string
    }>`select count(*) as n from ${sql.id(baseSchema, 'referrals')}`.execute(app.db)
    const all201 = (m: Measured[]) => m.reduce((sum, x) => sum + x.ok, 0) // measured-window 201s only; warm-up ones are stored too

    // --- Report.
    const openRow = (name: string, m: Measured) => [
      name,
      String(m.result.latencies.length),
      (m.result.latencies.length / m.result.windowSeconds).toFixed(0),
      fmtMs(percentile(m.sorted, 50)),
      fmtMs(percentile(m.sorted, 99)),
      fmtMs(percentile(m.sorted, 99.9)),
      fmtMs(m.sorted.at(-1) ?? Number.NaN),
      String(m.errors + m.result.warmupErrors),
      `${fmtMs(m.result.lagP99)} / ${fmtMs(m.result.lagMax)}`,
      String(m.result.maxInFlight),
    ]
    out(`## Open loop: ${rate} referrals/s, ${seconds} s measured after ${warmup} s warm-up`)
    out()
    out(
      table(
        [
          'server',
          'requests',
          'req/s',
          'p50',
          'p99',
          'p99.9',
          'max',
          'errors',
          'generator lag p99 / max',
          'max in flight',
        ],
        [openRow('baseline', baseOpen), openRow('hub', hubOpen)],
      ),
    )
    out()
    out(
      'Latency runs from the time each request was due (open loop), so queueing anywhere counts. Errors: any ' +
        'answer but 201, including the warm-up. Generator lag: how late the load generator fired.',
    )
    out()
    for (const [name, m] of [
      ['baseline', baseOpen],
      ['hub', hubOpen],
    ] as const) {
      const slowest = (m.result.slowestPerSecond ?? []).map((v) => v.toFixed(0)).join(' ')
      out(`Slowest request due in each second, ${name} (ms): ${slowest}`)
    }
    out()

    const satRate = (m: Measured) => m.ok / m.result.windowSeconds
    const closedRow = (name: string, m: Measured) => [
      name,
      satRate(m).toFixed(0),
      fmtMs(percentile(m.sorted, 50)),
      fmtMs(percentile(m.sorted, 99)),
      String(m.errors + m.result.warmupErrors),
      // CPU time per answered request: the run's average CPU share over its request rate.
      `${fmtMs((10 * m.cpu.server) / satRate(m))} / ${fmtMs((10 * m.cpu.postgres) / satRate(m))}`,
      `${m.result.windowSeconds.toFixed(1)} s${m.result.exhausted ? ' (documents ran out)' : ''}`,
    ]
    const roundRatio = (round: number) => satRate(hubRounds[round]!) / satRate(baseRounds[round]!)
    const ratios = baseRounds.map((_, round) => roundRatio(round))
    const medianRound = ratios.map((ratio, round) => ({ ratio, round })).sort((a, b) => a.ratio - b.ratio)[
      Math.floor((ratios.length - 1) / 2)
    ]!.round
    out(
      `## Saturation: closed loop, ${concurrency} in flight, ${satSeconds} s after ${SAT_WARMUP} s warm-up, ` +
        `${satRounds} alternating round${satRounds === 1 ? '' : 's'}`,
    )
    out()
    out(
      table(
        [
          'round',
          'server',
          'req/s (201)',
          'p50',
          'p99',
          'errors',
          'CPU per request: server / postgres',
          'window',
          'hub / baseline',
        ],
        baseRounds.flatMap((base, round) => [
          [String(round + 1), ...closedRow('baseline', base), ''],
          [String(round + 1), ...closedRow('hub', hubRounds[round]!), ratios[round]!.toFixed(2)],
        ]),
      ),
    )
    out()

    const cpuRow = (name: string, m: Measured) => [
      name,
      pct(m.cpu.server),
      pct(m.cpu.loadgen),
      pct(m.cpu.postgres),
      pct(m.cpu.redis),
      pct(m.cpu.other),
      pct(m.cpu.busy),
      `${m.drained.toFixed(1)} s`,
    ]
    out(`## CPU during each run (% of one core; the machine has ${availableParallelism() * 100} %)`)
    out()
    out(
      table(
        [
          'run',
          'server process',
          'load generator',
          'postgres',
          'redis',
          'anything else',
          'machine busy',
          'waited before for backlog',
        ],
        [
          cpuRow(`baseline, open ${rate}/s`, baseOpen),
          cpuRow(`hub, open ${rate}/s`, hubOpen),
          ...baseRounds.flatMap((base, round) => [
            cpuRow(`baseline, closed ${concurrency}, round ${round + 1}`, base),
            cpuRow(`hub, closed ${concurrency}, round ${round + 1}`, hubRounds[round]!),
          ]),
        ],
      ),
    )
    out()

    const waitRows = (name: string, m: Measured) =>
      [...m.waits.counts]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([what, n]) => {
          const [state, wait, query] = what.split(' | ')
          return [name, (n / m.waits.samples).toFixed(2), state ?? '', wait ?? '', `\`${query ?? ''}\``]
        })
    out(
      `## Where each server's Postgres connections were (pg_stat_activity every 50 ms; mean connections per sample)`,
    )
    out()
    out(
      table(
        ['run', 'connections', 'state', 'waiting on', 'query'],
        [
          ...waitRows(`baseline, open ${rate}/s`, baseOpen),
          ...waitRows(`hub, open ${rate}/s`, hubOpen),
          ...waitRows(`baseline, closed ${concurrency}, round 1`, baseRounds[0]!),
          ...waitRows(`hub, closed ${concurrency}, round 1`, hubRounds[0]!),
        ],
      ),
    )
    out()

    const hubP99 = percentile(hubOpen.sorted, 99)
    const hubErrors = hubOpen.errors + hubOpen.result.warmupErrors
    const ratio = ratios[medianRound]!
    const latencyMet = hubP99 < 50 && hubErrors === 0
    const ratioMet = ratio >= 0.8
    out('## Targets')
    out()
    out(
      `- p99 < 50 ms at ${rate}/s with no errors: hub p99 ${fmtMs(hubP99)}, ${hubErrors} errors: ` +
        `${latencyMet ? 'met' : 'NOT met'}`,
    )
    out(
      `- saturation >= 0.8 x baseline (median round): round ${medianRound + 1}, hub ` +
        `${satRate(hubRounds[medianRound]!).toFixed(0)}/s, baseline ${satRate(baseRounds[medianRound]!).toFixed(0)}/s, ` +
        `ratio ${ratio.toFixed(2)} (all rounds: ${ratios.map((r) => r.toFixed(2)).join(', ')}): ${ratioMet ? 'met' : 'NOT met'}`,
    )
    out(
      `- check: hub stored ${hubRows.n} referrals, baseline ${baseRows.rows[0]?.n}; 201s in the measured ` +
        `windows: hub ${all201([hubOpen, ...hubRounds])}, baseline ${all201([baseOpen, ...baseRounds])} (warm-up 201s are stored too)`,
    )
    const samples = [hubOpen, ...hubRounds].flatMap((m) => m.result.errorSamples)
    if (samples.length > 0) out(`- hub error samples: ${samples.slice(0, 3).join(' | ')}`)
    const baseSamples = [baseOpen, ...baseRounds].flatMap((m) => m.result.errorSamples)
    if (baseSamples.length > 0) out(`- baseline error samples: ${baseSamples.slice(0, 3).join(' | ')}`)
    out(
      `- load average after the runs: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} ("anything else" in the CPU table is other work on the machine)`,
    )
    if (profileDir)
      out(
        `- CPU profiles of the hub during its open-loop run and first closed-loop round written to ${profileDir}`,
      )
    if (!latencyMet || !ratioMet) process.exitCode = 1

    await toBaseline({ type: 'stop' }).catch(() => {})
    await toLoadgen({ type: 'exit' }).catch(() => {})
  } finally {
    await cleanup()
  }
}

/** The commit the hub was built from, and whether src/ or migrations/ differ from it. */
function hubRevision(): string {
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd: new URL('..', import.meta.url), encoding: 'utf8' }).trim()
  try {
    const changed = git('status', '--porcelain', '--', 'src', 'migrations')
    return `commit ${git('rev-parse', '--short', 'HEAD')}${changed ? ', with uncommitted changes in src/ or migrations/' : ''}`
  } catch {
    return 'unknown (not a git checkout)'
  }
}

await main()
