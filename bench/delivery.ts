// Delivery latency at a fixed arrival rate, the hub as deployed: from POST /v1/referrals returning
// 201 to (a) the recipient's long-poll GET /v1/inbox?wait=30&after=<cursor> returning the message,
// for pull agencies, and (b) a loopback webhook receiver having it, for push agencies. Also the POST's
// own latency, missing and duplicate messages, offered and achieved rates, and the CPU per delivered
// referral of every process.
//
//   npm run build     # the benchmark runs dist/ and builds nothing itself
//   npx tsx bench/delivery.ts [RATE=200] [SECONDS=10] [--warmup 2000] [--senders 10] [--pull 10]
//                             [--push 10] [--confirm sync|async|off] [--services shared|private]
//                             [--keep] [--cpu-prof DIR]
//
// Processes: the hub's API (`node dist/src/server.js`) and worker (`node dist/src/worker.js`: the
// outbox relay, the sealer, BullMQ's workers; it signs and POSTs the webhooks), set up with `trm
// migrate` and the agencies registered through the API by an operator (bench/lib/deployed-hub.ts), on
// one Postgres and one Redis (`--services`, as bench/referrals.ts). The load generator
// (bench/lib/loadgen.ts, a child process) signs the referrals before the clock starts, sends them with
// node:http, and also plays the recipients (bench/lib/recipients.ts): the webhook receiver, and one
// long-poll loop per pull agency that confirms what it read (`--confirm sync`, as an agency's system
// would: before polling again; `async`: without waiting; `off`: only follows the cursor). So every time
// in a latency (201 read, long-poll answer read, webhook body read) is taken in that one process, on
// one clock. This process only watches.
//
// Open loop: request i is due at i/RATE seconds whether or not earlier ones have answered, so a slow
// hub shows up as latency, not as a lower offered rate; the POST latency runs from the due time.
// Referral i goes from sender i % senders to the i-th recipient of a list alternating pull and push
// agencies. `--warmup` referrals (at up to 100/s) go first and must all arrive before the clock starts:
// 2,000 by default, so that V8 has compiled the hub's hot code (after 100, its optimising compiler
// still took a fifth of the API's and the worker's CPU in the timed run; a deployed hub runs warm).
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { testHubKeys, uniqueName } from '../test/helpers/env.js'
import { CpuMeter, cpuBetween, redisPidFromInfo } from './lib/cpu.js'
import {
  DeployedHub,
  deleteRedisPrefix,
  distProblem,
  monitorClient,
  openServices,
  type RegisteredAgency,
  redisInfo,
  type Services,
} from './lib/deployed-hub.js'
import { CPU_ROLES, cpuPerReferralCells, fmtMs, out, SERVER_SIDE, table } from './lib/format.js'
import { type DocReport, forkRole, percentile, type RunResult, type RunSpec, rpc } from './lib/ipc.js'

const USAGE =
  'usage: npx tsx bench/delivery.ts [RATE] [SECONDS] [--warmup N] [--senders N] [--pull N] [--push N] ' +
  '[--confirm sync|async|off] [--services shared|private] [--keep] [--cpu-prof DIR]\n'
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    warmup: { type: 'string', default: '2000' },
    senders: { type: 'string', default: '10' },
    pull: { type: 'string', default: '10' },
    push: { type: 'string', default: '10' },
    confirm: { type: 'string', default: 'sync' },
    services: { type: 'string', default: 'shared' },
    keep: { type: 'boolean', default: false },
    /** Writes CPU profiles of the API and the worker (their whole lives) there. */
    'cpu-prof': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
})
const rate = Number(positionals[0] ?? 200)
const seconds = Number(positionals[1] ?? 10)
const warmup = Number(values.warmup)
const confirm = values.confirm
const senderCount = Number(values.senders)
const pullCount = Number(values.pull)
const pushCount = Number(values.push)
const services = values.services
if (
  values.help ||
  ![rate, seconds, warmup, senderCount, pullCount, pushCount].every((n) => Number.isInteger(n) && n >= 0) ||
  rate <= 0 ||
  seconds <= 0 ||
  senderCount < 1 ||
  pullCount + pushCount < 1 ||
  (confirm !== 'sync' && confirm !== 'async' && confirm !== 'off') ||
  (services !== 'shared' && services !== 'private')
) {
  process.stderr.write(USAGE)
  process.exit(values.help ? 0 : 2)
}
const TARGET_PULL_P99 = 100
const TARGET_PUSH_P99 = 250
const DRAIN_MS = 30_000

const sleep = (n: number) => new Promise((resolve) => setTimeout(resolve, n))
const log = (text: string) => process.stderr.write(`${text}\n`)
const loads = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')

interface Report {
  docs: DocReport[]
  counts: Record<string, number>
  errorSamples: string[]
  eventLoopDelay: { p99: number; max: number }
}

/** One delivery path's figures: latency from the 201 being read to the message having arrived. */
function figures(docs: DocReport[]) {
  const answered = docs.filter((d) => d.status === '201')
  const latencies: number[] = []
  let early = 0
  let last = Number.NaN
  for (const d of answered) {
    if (d.at === undefined) continue
    // Both ends are read in the load generator; the message can be read before the 201 is (the
    // hub commits, then answers, while NOTIFY and the relay run): that counts as 0.
    if (d.at < d.end!) early += 1
    latencies.push(Math.max(0, d.at - d.end!))
    last = Number.isNaN(last) ? d.at : Math.max(last, d.at)
  }
  latencies.sort((a, b) => a - b)
  return {
    sent: docs.length,
    answered: answered.length,
    latencies,
    early,
    last,
    missing: answered.filter((d) => d.at === undefined).length,
    duplicates: docs.reduce((sum, d) => sum + Math.max(0, d.copies - 1), 0),
  }
}

async function main(): Promise<number> {
  const problem = await distProblem()
  if (problem) {
    log(`bench/delivery.ts measures the built hub: ${problem}`)
    return 2
  }
  const dir = mkdtempSync(join(tmpdir(), 'trm-bench-delivery-'))
  const schema = uniqueName('bench_delivery')
  const queuePrefix = `{${schema}}`
  let svc: Services | undefined
  let hub: DeployedHub | undefined
  let monitor: Awaited<ReturnType<typeof monitorClient>> | undefined
  let loadgen: ReturnType<typeof forkRole> | undefined
  let keepDir = values.keep
  let cleaned = false
  const cleanup = async () => {
    if (cleaned) return
    cleaned = true
    if (loadgen?.connected) loadgen.kill()
    await hub?.stop()
    if (monitor && svc) {
      await monitor
        .query(`drop schema if exists ${monitor.escapeIdentifier(schema)} cascade`)
        .catch((error: unknown) => log(`could not drop the schema ${schema}: ${String(error)}`))
      await deleteRedisPrefix(svc.redisUrl, queuePrefix).catch((error: unknown) =>
        log(`could not delete the Redis keys under ${queuePrefix}: ${String(error)}`),
      )
      await monitor.end().catch(() => {})
    }
    await svc?.stop()
    if (keepDir) log(`kept: ${dir} (each hub process's log)`)
    else rmSync(dir, { recursive: true, force: true })
  }
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
    hub = new DeployedHub({
      services: svc,
      schema,
      queuePrefix,
      hubKeys: await testHubKeys(),
      logDir: dir,
      env: { WEBHOOK_ALLOW_LOOPBACK: 'true' },
      ...(values['cpu-prof'] ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] } : {}),
    })
    log('trm migrate')
    await hub.migrate()
    loadgen = forkRole('./loadgen.ts')
    const toLoadgen = rpc(loadgen)
    const { url: receiverUrl } = await toLoadgen<{ url: string }>({ type: 'receiver' })
    await hub.start()

    log(`registering ${senderCount + pullCount + pushCount} agencies through the API`)
    const register = (n: number, spec: Parameters<DeployedHub['registerThroughApi']>[0]) =>
      Array.from({ length: n }, (_, i) => hub!.registerThroughApi({ ...spec, name: `${spec.name} ${i + 1}` }))
    const senders = await Promise.all(
      register(senderCount, { name: 'Bench NGO (fictional)', country: 'RO', kind: 'ngo', alg: 'EdDSA' }),
    )
    const pull = await Promise.all(
      register(pullCount, { name: 'Bench pull agency (fictional)', country: 'DE', kind: 'ngo' }),
    )
    const push = await Promise.all(
      register(pushCount, {
        name: 'Bench push agency (fictional)',
        country: 'DE',
        kind: 'ngo',
        pushUrl: receiverUrl,
      }),
    )
    const recipientIds: string[] = []
    for (let i = 0; i < Math.max(pullCount, pushCount); i += 1) {
      if (pull[i]) recipientIds.push(pull[i]!.id)
      if (push[i]) recipientIds.push(push[i]!.id)
    }
    const bearer = async (agency: RegisteredAgency) => `Bearer ${await hub!.client(agency).accessToken()}`

    const total = Math.round(rate * seconds)
    const signed = await toLoadgen<{ count: number; seconds: number }>({
      type: 'sign',
      count: warmup + total + 10,
      senders: await Promise.all(
        senders.map(async (s) => ({ id: s.id, signingJwk: s.keys.signing, authorization: await bearer(s) })),
      ),
      recipientIds,
    })
    await toLoadgen({
      type: 'poll',
      host: '127.0.0.1',
      port: hub.port,
      recipients: await Promise.all(pull.map(async (p) => ({ id: p.id, authorization: await bearer(p) }))),
      confirm,
    })
    const spec = (from: number, to: number, perSecond: number): RunSpec => ({
      label: 'hub',
      host: '127.0.0.1',
      port: hub!.port,
      path: '/v1/referrals',
      headers: { 'content-type': 'application/json' },
      mode: 'open',
      rate: perSecond,
      warmupSeconds: 0,
      seconds: (to - from) / perSecond,
      concurrency: 1,
      from,
      to,
      expectStatus: 201,
      timeoutMs: 30_000,
    })

    // Warm-up (also waits for the worker to be up): its messages must all arrive first.
    if (warmup > 0) {
      await toLoadgen<RunResult>({ type: 'run', spec: spec(0, warmup, Math.min(rate, 100)) })
      const warm = await toLoadgen<{ outstanding: number }>({
        type: 'await',
        from: 0,
        to: warmup,
        timeoutMs: 60_000,
      })
      if (warm.outstanding > 0) throw new Error(`${warm.outstanding} warm-up messages never arrived`)
    }

    const meter = await CpuMeter.create({
      processes: () => {
        const roles = new Map<number, string>([
          [loadgen!.pid!, 'load generator'],
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
        ]),
      },
      redisPid: redisPidFromInfo(await redisInfo(svc.redisUrl)),
    })
    const loadBefore = loads()
    const before = await meter.snapshot()
    log(`running: ${total} referrals at ${rate}/s (load average ${loadBefore})`)
    const run = await toLoadgen<RunResult>({ type: 'run', spec: spec(warmup, warmup + total, rate) })
    const drain = await toLoadgen<{ outstanding: number; waitedMs: number }>({
      type: 'await',
      from: warmup,
      to: warmup + total,
      timeoutMs: DRAIN_MS,
    })
    const after = await meter.snapshot()
    const cpu = cpuBetween(before, after)
    const loadAfter = loads()
    await sleep(500) // late duplicates
    const report = await toLoadgen<Report>({ type: 'report', from: warmup, to: warmup + total })

    // --- Figures.
    const docs = report.docs
    const post = [...run.latencies].sort((a, b) => a - b)
    const pulled = figures(docs.filter((d) => d.pull))
    const pushed = figures(docs.filter((d) => !d.pull))
    const answered = docs.filter((d) => d.status === '201')
    const refused = docs.length - answered.length
    const firstDue = Math.min(...docs.map((d) => d.due ?? Number.POSITIVE_INFINITY))
    const lastEnd = Math.max(...answered.map((d) => d.end!))
    const lastArrival = Math.max(...[pulled.last, pushed.last].filter((n) => !Number.isNaN(n)))
    const perSecond = (n: number, until: number) => (n > 0 ? n / ((until - firstDue) / 1000) : 0).toFixed(0)
    const delivered = pulled.latencies.length + pushed.latencies.length

    out('# Delivery latency benchmark: the hub as deployed')
    out()
    out(`command: npx tsx bench/delivery.ts ${process.argv.slice(2).join(' ')}`)
    out(
      `${total} referrals at ${rate}/s for ${seconds} s after ${warmup} warm-up; ${senderCount} senders → ` +
        `${pullCount} pull recipients (long-poll, confirm ${confirm}) and ${pushCount} push recipients ` +
        `(webhook); API pid ${hub.apiPid} (node dist/src/server.js) and worker pid ${hub.workerPid} ` +
        `(node dist/src/worker.js) with ${DeployedHub.SETTINGS}, WEBHOOK_ALLOW_LOOPBACK=true; ${svc.kind} services`,
    )
    out(
      `machine: ${availableParallelism()} CPUs (${cpus()[0]?.model.trim()}), node ${process.version}; ` +
        `load average ${loadBefore} before the timed run, ${loadAfter} after it`,
    )
    out(
      `documents: ${signed.count} referrals pre-signed in the load generator (${(signed.count / signed.seconds).toFixed(0)}/s)`,
    )
    out()
    out(
      `offered ${rate}/s (generator lag p99 ${fmtMs(run.lagP99)}, max ${fmtMs(run.lagMax)}; ` +
        `max ${run.maxInFlight} POSTs in flight); achieved: ${answered.length} answered 201 at ` +
        `${perSecond(answered.length, lastEnd)}/s (first due → last 201), ` +
        `${delivered} delivered at ${perSecond(delivered, lastArrival)}/s ` +
        `(first due → last arrival); refused or failed: ${refused} (${Object.entries(run.statuses)
          .map(([k, v]) => `${k}: ${v}`)
          .join(', ')})`,
    )
    out()
    const row = (name: string, sorted: number[], extra: string[]) => [
      name,
      String(sorted.length),
      fmtMs(percentile(sorted, 50)),
      fmtMs(percentile(sorted, 99)),
      fmtMs(percentile(sorted, 99.9)),
      fmtMs(sorted.at(-1)),
      ...extra,
    ]
    out(
      table(
        ['latency', 'n', 'p50', 'p99', 'p99.9', 'max', 'missing', 'duplicates', 'before the 201'],
        [
          row('POST /v1/referrals (from due time)', post, ['–', '–', '–']),
          row('201 → long-poll returned it', pulled.latencies, [
            String(pulled.missing),
            String(pulled.duplicates),
            String(pulled.early),
          ]),
          row('201 → webhook received it', pushed.latencies, [
            String(pushed.missing),
            String(pushed.duplicates),
            String(pushed.early),
          ]),
        ],
      ),
    )
    out()
    const c = report.counts
    out(
      `recipients, from the first timed POST on: ${c['polls']} long-polls answered (${c['emptyPolls']} empty, ${c['pollErrors']} errors), ` +
        `${c['confirms']} confirmations (${c['confirmErrors']} errors), ${c['webhookRequests']} webhook requests ` +
        `(on ${c['webhookConnections']} connections opened since); ` +
        `load generator's event loop late by p99 ${fmtMs(report.eventLoopDelay.p99)}, max ` +
        `${fmtMs(report.eventLoopDelay.max)} (an error on every time it took)`,
    )
    if (report.errorSamples.length > 0) out(`recipient errors: ${report.errorSamples.join(' | ')}`)
    if (run.errorSamples.length > 0) out(`POST errors: ${run.errorSamples.slice(0, 3).join(' | ')}`)
    for (const [cause, n] of hub.loggedErrors()) out(`errors logged: ${n} × ${cause}`)
    out()
    out(
      `CPU per delivered referral (ms), from the first timed POST to the last arrival ` +
        `(${cpu.seconds.toFixed(1)} s, ${delivered} delivered; bench/README.md explains the columns):`,
    )
    out()
    const cells = cpuPerReferralCells(cpu, delivered, SERVER_SIDE.hub, {
      postgres: meter.postmaster !== undefined,
      redis: meter.redisMeasured,
    })
    const shown = CPU_ROLES.map((role, i) => [role, cells[i]!] as const).filter(
      ([role]) => role !== 'baseline' && role !== 'Postgres: baseline',
    )
    out(
      table(
        [...shown.map(([role]) => role), 'rest of the machine', 'server side'],
        [[...shown.map(([, cell]) => cell), cells.at(-2)!, cells.at(-1)!]],
      ),
    )
    if (drain.outstanding > 0)
      out(`gave up waiting ${DRAIN_MS / 1000} s after the run: ${drain.outstanding} never arrived`)
    const pullP99 = percentile(pulled.latencies, 99)
    const pushP99 = percentile(pushed.latencies, 99)
    const verdict = (p99: number, target: number, n: number) =>
      n === 0 ? 'not measured' : `p99 ${fmtMs(p99)}: ${p99 < target ? 'met' : 'NOT met'}`
    out()
    out(
      `targets: 201 → long-poll p99 < ${TARGET_PULL_P99} ms, ${verdict(pullP99, TARGET_PULL_P99, pullCount)}; ` +
        `201 → webhook p99 < ${TARGET_PUSH_P99} ms, ${verdict(pushP99, TARGET_PUSH_P99, pushCount)}`,
    )
    for (const death of hub.deaths)
      out(`${death.name} DIED on its own (code ${death.code}, signal ${death.signal}): ${death.tail}`)
    if (values['cpu-prof'])
      out(`CPU profiles of the API and the worker (their whole lives) written to ${values['cpu-prof']}`)
    keepDir ||= hub.deaths.length > 0
    await toLoadgen({ type: 'exit' }).catch(() => {})
    const failed =
      refused > 0 ||
      pulled.missing + pushed.missing > 0 ||
      (pullCount > 0 && !(pullP99 < TARGET_PULL_P99)) ||
      (pushCount > 0 && !(pushP99 < TARGET_PUSH_P99)) ||
      hub.deaths.length > 0
    return failed ? 1 : 0
  } finally {
    await cleanup()
  }
}

process.exitCode = await main().catch((error: unknown) => {
  log(`bench/delivery.ts failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  return 2
})
