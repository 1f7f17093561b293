// Fault drill: does the hub lose, duplicate or invent anything when Redis, an API process, a worker
// process and Postgres fail under load, and does every hub process survive it?
//
//   npx tsx bench/drills.ts [--referrals 5000] [--rate 100] [--pg-stop-seconds 10]
//                           [--fault-spacing S] [--restart-after 2] [--faults redis,api,worker,postgres]
//                           [--give-up 180] [--drain-seconds 180] [--redis-aof] [--log-level warn]
//                           [--keep] [--json]
//
// Needs `dist/` (npm run build), Debian's PostgreSQL binaries and redis-server. Everything runs in a
// temporary directory (kept with --keep), on spare loopback ports: a private PostgreSQL cluster and a
// private redis-server (never the machine's 5432/6379), `trm migrate` and `trm agencies add` from dist,
// a loopback webhook receiver, then two API processes (dist/src/server.js) and two worker processes
// (dist/src/worker.js), each watched (bench/lib/hub-processes.ts). An idempotent retrying client
// (bench/lib/idempotent-sender.ts) sends the referrals across both APIs, from several senders to the
// national contact points of four countries (two pull, two push), while the drill, in turn, kills Redis
// (kill -9, restarted on the same port), one API and one worker (kill -9, restarted), and stops Postgres
// (`pg_ctl stop -m immediate`, started again after --pg-stop-seconds). The pull agencies long-poll
// their inboxes all along (bench/lib/recipients.ts). Then the drill drains every inbox, waits for the
// audit sealer and runs `trm audit verify`, and prints what was sent, accepted, stored and delivered
// (and how many deadline timers Redis no longer holds).
// Exit status 1 when anything accepted was lost, something was stored that was never accepted, a
// referral was refused, a hub process died on its own, or the audit chain does not verify; 2 on bad usage.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { JWK } from 'jose'
import pg from 'pg'
import { signReferral } from '../src/sdk/documents.js'
import { HubClient } from '../src/sdk/hub-client.js'
import type { TestAgency } from '../test/helpers/agencies.js'
import { testHubKeys } from '../test/helpers/env.js'
import { referralDocument } from '../test/helpers/referrals.js'
import { freePort } from '../test/helpers/tcp-proxy.js'
import { FAULTS, type FaultName, runFaults } from './lib/drill-faults.js'
import {
  commitOf,
  type DrillAgency,
  deadlineTimers,
  drainInboxes,
  registerAgency,
  trm,
  waitSealed,
} from './lib/drill-hub.js'
import { drillFigures, formatDrill } from './lib/drill-report.js'
import { type Death, HubProcess } from './lib/hub-processes.js'
import { IdempotentSender, type Submission } from './lib/idempotent-sender.js'
import type { Doc } from './lib/ipc.js'
import {
  PrivatePostgres,
  PrivateRedis,
  postgresBinDir,
  redisServerAvailable,
} from './lib/private-services.js'
import { Recipients } from './lib/recipients.js'

const USAGE =
  'usage: npx tsx bench/drills.ts [--referrals N] [--rate R] [--pg-stop-seconds S] [--fault-spacing S] ' +
  '[--restart-after S] [--faults redis,api,worker,postgres] [--give-up S] [--drain-seconds S] [--redis-aof] ' +
  '[--log-level warn] [--keep] [--json]\n'
const { values } = parseArgs({
  options: {
    referrals: { type: 'string', default: '5000' },
    rate: { type: 'string', default: '100' },
    'pg-stop-seconds': { type: 'string', default: '10' },
    /** Seconds between the faults (the first one too); default: the sending time / 5. */
    'fault-spacing': { type: 'string' },
    /** How long Redis, the API and the worker stay down before the drill starts them again. */
    'restart-after': { type: 'string', default: '2' },
    faults: { type: 'string', default: FAULTS.join(',') },
    /** A referral not answered 201/200 this long after its due time is given up by the client. */
    'give-up': { type: 'string', default: '180' },
    /** How long to wait, after the last answer, for every accepted referral to be delivered. */
    'drain-seconds': { type: 'string', default: '180' },
    /** Redis with an append-only file fsynced on every write, as production runs it (default: none). */
    'redis-aof': { type: 'boolean', default: false },
    /** LOG_LEVEL of the hub processes (their logs are in the drill directory: keep it with --keep). */
    'log-level': { type: 'string', default: 'warn' },
    keep: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
})
const count = Number(values.referrals)
const rate = Number(values.rate)
const pgStopSeconds = Number(values['pg-stop-seconds'])
const restartAfter = Number(values['restart-after'])
const giveUp = Number(values['give-up'])
const drainSeconds = Number(values['drain-seconds'])
const sendSeconds = count / rate
const spacing = values['fault-spacing'] === undefined ? sendSeconds / 5 : Number(values['fault-spacing'])
const faults = values.faults.split(',').filter(Boolean) as FaultName[]
if (
  values.help ||
  !Number.isInteger(count) ||
  count < 1 ||
  ![rate, pgStopSeconds, restartAfter, giveUp, drainSeconds, spacing].every(
    (n) => Number.isFinite(n) && n >= 0,
  ) ||
  rate <= 0 ||
  !faults.every((f) => FAULTS.includes(f))
) {
  process.stderr.write(USAGE)
  process.exit(values.help ? 0 : 2)
}

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const DIST = join(ROOT, 'dist', 'src')
const SCHEMA = 'trm'
const QUEUE_PREFIX = '{trm}'
const SENDERS = 4
/** Routed by country to each one's national contact point. */
const RECIPIENTS = [
  { country: 'DE', push: false },
  { country: 'IT', push: true },
  { country: 'AT', push: false },
  { country: 'ES', push: true },
]
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const log = (text: string) => process.stderr.write(`${text}\n`)

/** Warns when a source file is newer than the build: the drill would test old code. */
async function checkDist(): Promise<void> {
  for (const file of ['server.js', 'worker.js', 'cli.js']) {
    if (!existsSync(join(DIST, file))) {
      log(`bench/drills.ts runs the built hub: ${join(DIST, file)} is missing. Run \`npm run build\` first.`)
      process.exit(2)
    }
  }
  const built = statSync(join(DIST, 'server.js')).mtimeMs
  const sources = await readdir(join(ROOT, 'src'), { recursive: true })
  const newer = sources.filter((f) => f.endsWith('.ts') && statSync(join(ROOT, 'src', f)).mtimeMs > built)
  if (newer.length > 0)
    log(`warning: ${newer.length} file(s) in src/ are newer than dist/ (e.g. src/${newer[0]}): npm run build`)
}

async function main(): Promise<number> {
  await checkDist()
  const pgBin = postgresBinDir()
  if (!pgBin || !redisServerAvailable()) {
    log('bench/drills.ts needs PostgreSQL (initdb, pg_ctl under /usr/lib/postgresql) and redis-server:')
    log('apt-get install -y postgresql redis-server')
    return 2
  }
  const dir = mkdtempSync(join(tmpdir(), 'trm-drill-'))
  chmodSync(dir, 0o755) // user postgres must reach its data directory inside
  const hubDir = join(dir, 'hub')
  mkdirSync(hubDir)
  const postgres = new PrivatePostgres(pgBin, join(dir, 'pg'), await freePort())
  const redis = new PrivateRedis(join(dir, 'redis'), await freePort(), values['redis-aof'] ? 'aof' : 'none')
  const deaths: Death[] = []
  const hub: HubProcess[] = []
  const recipients = new Recipients()
  let db: pg.Client | undefined
  let t0 = performance.now()
  const clock = () => `t=${((performance.now() - t0) / 1000).toFixed(1)}s`

  let cleaned = false
  const cleanup = async () => {
    if (cleaned) return
    cleaned = true
    await Promise.allSettled(hub.map((p) => p.stop()))
    await recipients.stop().catch(() => {})
    await db?.end().catch(() => {})
    await redis.stop().catch(() => {})
    await postgres.stopIfRunning()
    if (values.keep) log(`kept: ${dir} (pg/, redis/, hub/ with each process's log)`)
    else rmSync(dir, { recursive: true, force: true })
  }
  // Ctrl-C reaches this process twice (from the terminal, and relayed by tsx's parent process): the
  // first one cleans up, the others wait for it.
  let interrupted = false
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (interrupted) return
      interrupted = true
      log(`${signal}: stopping the drill and removing what it started`)
      void cleanup().finally(() => process.exit(130))
    })
  }

  try {
    // --- Services, schema, agencies.
    log(`drill directory ${dir}; postgres on ${postgres.port}, redis on ${redis.port}`)
    await postgres.init()
    await postgres.start()
    await redis.start()
    const keysFile = join(hubDir, 'hub-signing-keys.json')
    writeFileSync(keysFile, await testHubKeys(), { mode: 0o600 })
    const env = hubEnvironment(postgres.url, redis.url, keysFile)
    const migrated = await trm(DIST, ['migrate'], env)
    if (migrated.code !== 0) throw new Error(`trm migrate failed: ${migrated.stderr}`)
    const receiverUrl = await recipients.startReceiver()
    const context = { dist: DIST, env, dir: hubDir }
    const senders: DrillAgency[] = []
    for (let i = 0; i < SENDERS; i += 1)
      senders.push(
        await registerAgency(context, {
          name: `Drill NGO ${i + 1} (fictional)`,
          country: i % 2 ? 'BG' : 'RO',
        }),
      )
    const ncps: DrillAgency[] = []
    for (const { country, push } of RECIPIENTS)
      ncps.push(
        await registerAgency(context, {
          name: `Drill NCP ${country} (fictional)`,
          country,
          ncp: true,
          ...(push ? { pushUrl: receiverUrl } : {}),
        }),
      )

    // --- The hub: two API processes, two workers, each watched.
    const onDeath = (death: Death) => {
      deaths.push(death)
      log(
        `${clock()} ${death.name} DIED ON ITS OWN (code ${death.code}, signal ${death.signal}); restarting it`,
      )
    }
    const apiPorts = [await freePort(), await freePort()]
    const apis = apiPorts.map((port, i) => {
      const apiEnv = { ...env, PORT: String(port), METRICS_PORT: 'off' }
      return new HubProcess(`api-${i + 1}`, join(DIST, 'server.js'), apiEnv, hubDir, onDeath, port)
    })
    const workers = [1, 2].map(
      (i) =>
        new HubProcess(
          `worker-${i}`,
          join(DIST, 'worker.js'),
          { ...env, WORKER_METRICS_PORT: 'off' },
          hubDir,
          onDeath,
        ),
    )
    hub.push(...apis, ...workers)
    for (const p of hub) p.start()
    for (const api of apis) if (!(await api.waitLive())) throw new Error(`${api.name} did not come up`)
    for (const agency of [...senders, ...ncps]) {
      const client = new HubClient({
        baseUrl: `http://127.0.0.1:${apiPorts[0]}`,
        agencyId: agency.id,
        signingKey: agency.keys.signing,
      })
      agency.authorization = `Bearer ${await client.accessToken()}`
    }

    // --- The referrals, each signed once: referral i from sender i % 4 to the NCP of country i % 4.
    log(`signing ${count} referrals`)
    const submissions: Submission[] = []
    const docs: Doc[] = []
    for (let i = 0; i < count; i += 1) {
      const sender = senders[i % senders.length]!
      const ncp = ncps[i % ncps.length]!
      const document = referralDocument({ id: sender.id } as TestAgency, { country: ncp.country })
      const jws = await signReferral(document, sender.keys.signing as JWK & { kid: string; alg: string })
      submissions.push({
        referralId: document.id,
        body: JSON.stringify({ jws }),
        authorization: sender.authorization,
      })
      docs.push({ body: '', referralId: document.id, recipientId: ncp.id })
    }
    // The pull agencies long-poll their inboxes all along, each through one of the APIs.
    const pullNcps = ncps.filter((n) => !n.push)
    for (const [i, ncp] of pullNcps.entries())
      recipients.poll({
        id: 0,
        type: 'poll',
        host: '127.0.0.1',
        port: apiPorts[i % apiPorts.length]!,
        recipients: [{ id: ncp.id, authorization: ncp.authorization }],
        confirm: 'sync',
      })

    // --- The run: the client sends while the faults happen in turn.
    const sender = new IdempotentSender({
      host: '127.0.0.1',
      ports: apiPorts,
      attemptTimeoutMs: 10_000,
      giveUpMs: giveUp * 1000,
      maxPauseMs: 2000,
    })
    log(
      `sending ${count} referrals at ${rate}/s over 2 APIs; faults (${faults.join(', ')}) ${spacing.toFixed(1)} s apart`,
    )
    const progress = () => {
      const p = sender.progress()
      log(
        `${clock()} sent ${p.started}/${count}, answered for good ${p.finished}, in flight ${p.inFlight}, ` +
          `attempts ${p.attempts}, hub processes died on their own: ${deaths.length}`,
      )
    }
    t0 = performance.now()
    const [, faultRecords] = await Promise.all([
      sender.run(submissions, rate, progress),
      runFaults(faults, {
        t0,
        spacingMs: spacing * 1000,
        restartAfterMs: restartAfter * 1000,
        pgStopMs: pgStopSeconds * 1000,
        postgres,
        redis,
        api: apis[0]!,
        worker: workers[0]!,
        apiPorts,
        log: (text) => log(`${clock()} ${text}`),
      }),
    ])
    progress()

    // --- Delivery: wait (bounded) until every accepted referral arrived, then drain every pull inbox.
    const accepted = (i: number) => ['201', '200'].includes(sender.outcomes[i]?.final ?? '')
    const undelivered = () =>
      recipients.report(docs).docs.filter((d, i) => accepted(i) && d.at === undefined).length
    const waitStart = performance.now()
    while (undelivered() > 0 && performance.now() - waitStart < drainSeconds * 1000) await sleep(500)
    const waitedSeconds = (performance.now() - waitStart) / 1000
    log(`${clock()} waited ${waitedSeconds.toFixed(1)} s for deliveries; ${undelivered()} outstanding`)
    await recipients.stop()
    const report = recipients.report(docs)
    const drained = await drainInboxes(pullNcps, apiPorts)

    // --- Stored, sealed, verified.
    db = new pg.Client({ connectionString: postgres.url })
    await db.connect()
    const unsealed = await waitSealed(db, SCHEMA)
    const { rows } = await db.query<{ id: string }>(`select id::text as id from ${SCHEMA}.referrals`)
    const timers = await deadlineTimers(db, SCHEMA, { port: redis.port, prefix: QUEUE_PREFIX })
    const audit = await trm(DIST, ['audit', 'verify'], env)
    const figures = drillFigures({
      options: {
        count,
        rate,
        pgStopSeconds,
        spacing,
        restartAfter,
        faults,
        giveUp,
        drainSeconds,
        redisAof: values['redis-aof'],
      },
      t0,
      submissions,
      outcomes: sender.outcomes,
      attempts: sender.attempts,
      stored: new Set(rows.map((r) => r.id)),
      arrivals: report.docs.map((d, i) => ({
        pull: d.pull,
        copies: d.copies + (drained.get(docs[i]!.referralId) ?? 0),
      })),
      waitedSeconds,
      recipientCounts: report.counts,
      faults: faultRecords,
      deaths,
      servicesDied: redis.unexpectedExits.map(
        (e) => `redis-server (exit code ${e.code}, signal ${e.signal})`,
      ),
      unsealed,
      timers,
      audit: { code: audit.code, output: (audit.stdout + audit.stderr).trim() },
      commit: await commitOf(ROOT),
    })
    process.stdout.write(values.json ? `${JSON.stringify(figures, null, 2)}\n` : formatDrill(figures))
    return figures.failed ? 1 : 0
  } finally {
    await cleanup()
  }
}

/** The environment of every hub process and `trm` command of the drill. */
function hubEnvironment(databaseUrl: string, redisUrl: string, keysFile: string): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    DATABASE_URL: databaseUrl,
    DATABASE_SCHEMA: SCHEMA,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX,
    HUB_SIGNING_KEYS_FILE: keysFile,
    PUBLIC_URL: 'http://hub.drill',
    LOG_LEVEL: values['log-level'],
    // One client address sends everything: the limiter must not refuse it (it still runs).
    RATE_LIMIT_MAX: '1000000000',
    WEBHOOK_ALLOW_LOOPBACK: 'true',
    // Webhook retries after a fault come back within seconds, not the production 30 s and more.
    WEBHOOK_BACKOFF_MS: '1000',
    // Tokens are fetched once, before the run, and must outlive it.
    ACCESS_TOKEN_TTL_SECONDS: String(Math.ceil(sendSeconds + giveUp + drainSeconds + 3600)),
  }
}

process.exitCode = await main().catch((error: unknown) => {
  log(`drill failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  return 2
})
