import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type pg from 'pg'
import { HubClient } from '../src/sdk/hub-client.js'
import { testHubKeys, uniqueName } from '../test/helpers/env.js'
import { CpuMeter, cpuBetween, redisPidFromInfo } from './lib/cpu.js'
import {
  DeployedHub,
  deleteRedisPrefix,
  distProblem,
  monitorClient,
  openServices,
  redisInfo,
  type Services,
} from './lib/deployed-hub.js'
import { forkRole, type RunResult, type RunSpec, rpc } from './lib/ipc.js'
import { PgWatch } from './lib/pg-watch.js'
import { LABEL, type Measured, reportRuns, type Who } from './lib/referrals-report.js'
import { header, targets } from './lib/referrals-summary.js'
import { SEED_AGENCIES, seedReferrals } from './lib/seed.js'

const USAGE =
  'usage: npx tsx bench/referrals.ts [--rate 500] [--seconds 20] [--warmup 10] [--concurrency 32] [--rounds 3] ' +
  '[--sat-seconds 10] [--sat-budget 3000] [--timeout 30] [--api-alone] [--services shared|private] ' +
  '[--seed N] [--schema NAME] [--keep] [--cpu-prof DIR] [--hub-env NAME=VALUE ...]\n'

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '20' },
    /** Seconds of load before the measured ones: on a VM, a process idle for a while stalls as it starts again. */
    warmup: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '32' },
    /** Closed-loop rounds, alternating; the saturation target is judged on the median round. */
    rounds: { type: 'string' },
    'sat-rounds': { type: 'string' },
    'sat-seconds': { type: 'string', default: '10' },
    /** Documents signed per second of closed-loop run (the budget; the run stops early if spent). */
    'sat-budget': { type: 'string', default: '3000' },
    /** Seconds after its due time at which an unanswered request is abandoned and counted as an error. */
    timeout: { type: 'string', default: '30' },
    'api-alone': { type: 'boolean', default: false },
    services: { type: 'string', default: 'shared' },
    seed: { type: 'string', default: '0' },
    schema: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    /** A setting of the hub's processes beyond the bench's own (e.g. SUBMISSION_STATEMENTS_MAX=1); repeatable. */
    'hub-env': { type: 'string', multiple: true, default: [] },
    help: { type: 'boolean', default: false },
  },
})
const rate = Number(values.rate)
const seconds = Number(values.seconds)
const warmup = Number(values.warmup)
const concurrency = Number(values.concurrency)
const rounds = Number(values.rounds ?? values['sat-rounds'] ?? 3)
const satSeconds = Number(values['sat-seconds'])
const satBudget = Number(values['sat-budget'])
const timeoutSeconds = Number(values.timeout)
const seedCount = Number(values.seed)
const services = values.services
const hubEnv = Object.fromEntries(
  values['hub-env'].map((setting) => {
    const at = setting.indexOf('=')
    return [at > 0 ? setting.slice(0, at) : '', setting.slice(at + 1)]
  }),
)
if (
  Object.keys(hubEnv).some((name) => !/^[A-Z][A-Z0-9_]*$/.test(name)) ||
  values.help ||
  ![rate, seconds, warmup, concurrency, rounds, satSeconds, satBudget, timeoutSeconds, seedCount].every(
    (n) => Number.isFinite(n) && n >= 0,
  ) ||
  rate <= 0 ||
  seconds <= 0 ||
  concurrency < 1 ||
  satSeconds <= 0 ||
  !Number.isInteger(rounds) ||
  rounds < 1 ||
  !Number.isInteger(seedCount) ||
  (services !== 'shared' && services !== 'private') ||
  (values.schema !== undefined && (services === 'private' || !/^[a-z_][a-z0-9_]{0,62}$/.test(values.schema)))
) {
  process.stderr.write(USAGE)
  if (values.schema !== undefined && services === 'private')
    process.stderr.write('--schema names a schema of the shared Postgres; a private one starts empty\n')
  process.exit(values.help ? 0 : 2)
}
const SAT_WARMUP = 1
const POOL_MAX = 10 // the hub's default DATABASE_POOL_MAX; the baseline gets the same
const log = (text: string) => process.stderr.write(`${text}\n`)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function main(): Promise<number> {
  const problem = await distProblem()
  if (problem) {
    log(`bench/referrals.ts measures the built hub: ${problem}`)
    return 2
  }
  const dir = mkdtempSync(join(tmpdir(), 'trm-bench-referrals-'))
  const reuse = values.schema !== undefined
  const schema = values.schema ?? uniqueName('bench_ref')
  const queuePrefix = `{${uniqueName('bench_ref')}}`
  const baseSchema = uniqueName('bench_base')
  const baseAppName = `${baseSchema}_base`
  let svc: Services | undefined
  let hub: DeployedHub | undefined
  let monitor: Awaited<ReturnType<typeof monitorClient>> | undefined
  const children = rpcChildren()
  let keepDir = values.keep

  let cleaned = false
  const cleanup = async () => {
    if (cleaned) return
    cleaned = true
    children.kill()
    await hub?.stop()
    if (monitor && svc) {
      const drops = reuse || values.keep ? [baseSchema] : [schema, baseSchema]
      for (const s of drops)
        await monitor
          .query(`drop schema if exists ${monitor.escapeIdentifier(s)} cascade`)
          .catch((error: unknown) => log(`could not drop the schema ${s}: ${String(error)}`))
      if (!values.keep)
        await deleteRedisPrefix(svc.redisUrl, queuePrefix).catch((error: unknown) =>
          log(`could not delete the Redis keys under ${queuePrefix}: ${String(error)}`),
        )
      await monitor.end().catch(() => {})
    }
    await svc?.stop()
    if (keepDir) log(`kept: ${dir} (each hub process's log)${values.keep ? `; schema ${schema}` : ''}`)
    else rmSync(dir, { recursive: true, force: true })
  }
  // Ctrl-C reaches this process twice (from the terminal, and relayed by tsx): the first cleans up.
  let interrupted = false
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => {
      if (interrupted) return
      interrupted = true
      log(`${signal}: stopping and removing what the benchmark started`)
      void cleanup().finally(() => process.exit(130))
    })

  try {
    log(`starting ${services} services; logs in ${dir}`)
    svc = await openServices(services as 'shared' | 'private', dir)
    monitor = await monitorClient(svc.databaseUrl, uniqueName('trm_bench_watch'))
    const watch = new PgWatch(monitor)
    if (reuse) {
      const { rows } = await monitor.query('select from information_schema.schemata where schema_name = $1', [
        schema,
      ])
      if (rows.length === 0) throw new Error(`--schema ${schema}: no such schema (bench/seed.ts creates one)`)
    }
    hub = new DeployedHub({
      services: svc,
      schema,
      queuePrefix,
      hubKeys: await testHubKeys(),
      logDir: dir,
      env: hubEnv,
      ...(values['cpu-prof'] ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] } : {}),
    })
    log('trm migrate')
    await hub.migrate()
    if (seedCount > 0) await seed(hub, monitor, schema, seedCount)
    const sender = await hub.registerAgency({ name: 'Bench NGO (fictional)', country: 'RO', kind: 'ngo' })
    if (!(await findNcp(monitor, schema, 'DE')))
      await hub.registerAgency({
        name: 'Bench NCP DE (fictional)',
        country: 'DE',
        kind: 'national_agency',
        ncp: true,
      })
    const storedBefore = await countReferrals(monitor, schema)

    const loadgen = children.fork('./loadgen.ts')
    const baseline = children.fork('./baseline.ts')
    const configs: Who[] = values['api-alone'] ? ['baseline', 'hub', 'api'] : ['baseline', 'hub']
    // The hub stores each document once: the hub's and the API-alone runs each send their own range
    // (the baseline, in a schema of its own, sends the hub's).
    const hubConfigs = configs.length - 1
    const openCount = Math.ceil(rate * (warmup + seconds)) + 10
    const satCount = Math.ceil(satBudget * (SAT_WARMUP + satSeconds))
    const range = (who: Who, mode: 'open' | 'closed', round: number) => {
      const slot = who === 'api' ? 1 : 0
      const from =
        mode === 'open' ? slot * openCount : hubConfigs * openCount + (round * hubConfigs + slot) * satCount
      return { from, to: from + (mode === 'open' ? openCount : satCount) }
    }
    log('signing the referrals in the load generator; starting the baseline and the hub')
    const [signed, base] = await Promise.all([
      loadgen.call<{ count: number; seconds: number; bytes: number }>({
        type: 'sign',
        count: hubConfigs * (openCount + rounds * satCount),
        senderId: sender.id,
        signingJwk: sender.keys.signing,
        recipientCountry: 'DE',
      }),
      baseline.call<{ port: number; pid: number }>({
        type: 'start',
        databaseUrl: svc.databaseUrl,
        schema: baseSchema,
        applicationName: baseAppName,
        poolMax: POOL_MAX,
        publicJwk: sender.keys.publicJwks.keys.find((k) => k.use === 'sig'),
      }),
      hub.start(),
    ])
    const token = await new HubClient({
      baseUrl: `http://127.0.0.1:${hub.port}`,
      agencyId: sender.id,
      signingKey: sender.keys.signing,
    }).accessToken()

    const redisPid = redisPidFromInfo(await redisInfo(svc.redisUrl))
    const meter = await CpuMeter.create({
      processes: () => {
        const roles = new Map<number, string>([
          [base.pid, 'baseline'],
          [loadgen.pid, 'load generator'],
          [process.pid, 'bench (this process)'],
        ])
        if (hub!.apiPid) roles.set(hub!.apiPid, 'API')
        if (hub!.workerPid) roles.set(hub!.workerPid, 'worker')
        return roles
      },
      postgres: {
        client: monitor,
        applicationRoles: new Map([
          [hub.apiApplicationName, 'Postgres: API'],
          [hub.workerApplicationName, 'Postgres: worker'],
          [baseAppName, 'Postgres: baseline'],
        ]),
      },
      redisPid,
    })
    await header({
      argv: process.argv.slice(2),
      seeded: values.schema ? ' (kept by bench/seed.ts)' : seedCount > 0 ? ` (--seed ${seedCount})` : '',
      poolMax: POOL_MAX,
      monitor,
      svc,
      hub,
      signed,
      basePid: base.pid,
      loadgenPid: loadgen.pid,
      storedBefore,
      redisPid,
    })

    const hubNames = [hub.apiApplicationName, hub.workerApplicationName]
    const settle = async () => {
      const { seconds } = await watch.drained(schema, hubNames)
      return seconds + (await watch.quiet([baseAppName]))
    }
    const measure = async (who: Who, mode: 'open' | 'closed', round = 0): Promise<Measured> => {
      const settled = await settle()
      if (who === 'api') await hub!.stopWorker()
      await monitor!.query('checkpoint')
      await sleep(1000)
      log(`running: ${LABEL[who]}, ${mode} loop${mode === 'closed' ? `, round ${round + 1}` : ''}`)
      const spec: RunSpec = {
        label: who,
        host: '127.0.0.1',
        port: who === 'baseline' ? base.port : hub!.port,
        path: '/v1/referrals',
        headers: {
          'content-type': 'application/json',
          ...(who === 'baseline' ? {} : { authorization: `Bearer ${token}` }),
        },
        mode,
        rate,
        warmupSeconds: mode === 'open' ? warmup : SAT_WARMUP,
        seconds: mode === 'open' ? seconds : satSeconds,
        concurrency,
        ...range(who, mode, round),
        expectStatus: 201,
        timeoutMs: timeoutSeconds * 1000,
      }
      const sampled =
        who === 'baseline'
          ? new Map([[baseAppName, 'baseline']])
          : new Map([
              [hub!.apiApplicationName, 'API'],
              [hub!.workerApplicationName, 'worker'],
            ])
      const stopSampling = watch.startSampling(sampled)
      const before = await meter.snapshot()
      const result = await loadgen.call<RunResult>({ type: 'run', spec })
      const loadEnd = await meter.snapshot()
      const waits = await stopSampling()
      const backlog = who === 'baseline' ? undefined : await watch.backlog(schema)
      let end = loadEnd
      let caughtUp: number | undefined
      if (who === 'hub') {
        ;({ caughtUp } = await watch.drained(schema, hubNames))
        end = await meter.snapshot()
      }
      if (who === 'api') hub!.startWorker()
      const ok = result.statuses['201'] ?? 0
      return {
        who,
        mode,
        round,
        settled,
        result,
        sorted: [...result.latencies].sort((a, b) => a - b),
        ok,
        errors: result.latencies.length - ok,
        cpu: cpuBetween(before, end),
        loadCpu: cpuBetween(before, loadEnd),
        backlog,
        caughtUp,
        waits,
      }
    }

    const open: Measured[] = []
    for (const who of configs) open.push(await measure(who, 'open'))
    // Saturation in alternating rounds: each round's ratio is taken between runs a few seconds apart,
    // and the target is judged on the median round, so one disturbed window on a shared machine
    // neither makes nor breaks it. Every round is reported.
    const closed: Measured[][] = []
    for (let round = 0; round < rounds; round++) {
      const runs: Measured[] = []
      for (const who of configs) runs.push(await measure(who, 'closed', round))
      closed.push(runs)
    }
    await settle()
    const storedAfter = await countReferrals(monitor, schema)

    reportRuns({
      rate,
      seconds,
      warmup,
      concurrency,
      satSeconds,
      satWarmup: SAT_WARMUP,
      open,
      rounds: closed,
      measured: { postgres: meter.postmaster !== undefined, redis: meter.redisMeasured },
      cpuCount: availableParallelism(),
    })
    const failed = targets({
      open,
      closed,
      stored: storedAfter - storedBefore,
      hub,
      rate,
      apiAlone: values['api-alone'],
      cpuProfiles: values['cpu-prof'],
    })
    keepDir ||= hub.deaths.length > 0
    await baseline.call({ type: 'stop' }).catch(() => {})
    await loadgen.call({ type: 'exit' }).catch(() => {})
    return failed ? 1 : 0
  } finally {
    await cleanup()
  }
}

/** Child processes of this run (load generator, baseline), killed on the way out. */
function rpcChildren() {
  const all: ReturnType<typeof forkRole>[] = []
  return {
    fork(module: string) {
      const child = forkRole(module)
      all.push(child)
      return { pid: child.pid!, call: rpc(child) }
    },
    kill() {
      for (const child of all) if (child.connected) child.kill()
    },
  }
}

async function seed(hub: DeployedHub, monitor: pg.Client, schema: string, count: number) {
  log(`registering the seed's agencies and storing ${count} referrals`)
  const senders = []
  for (const agency of SEED_AGENCIES.senders)
    senders.push(await hub.registerAgency({ ...agency, kind: 'ngo', alg: 'EdDSA' }))
  const recipients = []
  for (const agency of SEED_AGENCIES.recipients) {
    const existing = await findNcp(monitor, schema, agency.country)
    recipients.push(
      existing ?? (await hub.registerAgency({ ...agency, kind: 'national_agency', ncp: true, alg: 'EdDSA' })),
    )
  }
  const client = await monitorClient(hub.env['DATABASE_URL']!, uniqueName('trm_bench_seed'))
  try {
    const took = await seedReferrals(client, {
      schema,
      count,
      senders,
      recipients,
      onProgress: (done, s) => log(`  ${done} of ${count} referrals stored (${s.toFixed(0)} s)`),
    })
    log(`seeded ${count} referrals in ${took.toFixed(0)} s`)
  } finally {
    await client.end()
  }
}

async function findNcp(monitor: pg.Client, schema: string, country: string) {
  const { rows } = await monitor.query<{ id: string; country: string }>(
    `select id, country from ${monitor.escapeIdentifier(schema)}.agencies
     where national_contact_point and country = $1 and status = 'active'`,
    [country],
  )
  return rows[0]
}

async function countReferrals(monitor: pg.Client, schema: string): Promise<number> {
  const { rows } = await monitor.query<{ n: string }>(
    `select count(*) as n from ${monitor.escapeIdentifier(schema)}.referrals`,
  )
  return Number(rows[0]!.n)
}

process.exitCode = await main().catch((error: unknown) => {
  log(`bench/referrals.ts failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  return 2
})
