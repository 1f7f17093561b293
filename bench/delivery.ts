// Delivery latency at a fixed arrival rate, against the real Postgres and Redis: from POST
// /v1/referrals returning 201 to (a) the recipient's long-poll GET /v1/inbox?wait=30&after=<cursor>
// returning the message, for pull agencies, and (b) a loopback webhook receiver having it, for push
// agencies. Also the POST's own latency, missing and duplicate messages, offered and achieved rates.
//
//   npx tsx bench/delivery.ts [RATE=200] [SECONDS=10] [--worker child|same] [--warmup 100]
//                             [--senders 10] [--pull 10] [--push 10] [--confirm sync|async|off] [--cpu-prof DIR]
//
// Processes: this one runs the hub (buildApp, its own Postgres schema and Redis prefix, dropped
// afterwards) and idles while the load runs. The worker (outbox relay, BullMQ workers: it signs and
// POSTs the webhooks) is a second process, `node --import tsx src/worker.ts`, as in production
// (`--worker same` runs it in this process instead). The load generator (bench/lib/loadgen.ts,
// child_process.fork) signs the referrals before the clock starts, sends them with node:http, and also
// plays the recipients (bench/lib/recipients.ts): the webhook receiver, and one long-poll loop per pull
// agency that confirms what it read (`--confirm sync`, as an agency's system would: before polling
// again; `async`: without waiting; `off`: only follows the cursor). So every time in a latency (201
// read, long-poll answer read, webhook body read) is taken in that one process, on one clock.
//
// Open loop: request i is due at i/RATE seconds whether or not earlier ones have answered, so a slow
// hub shows up as latency, not as a lower offered rate; the POST latency runs from the due time.
// Referral i goes from sender i % senders to the i-th recipient of a list alternating pull and push
// agencies. `--warmup` referrals (at up to 100/s) go first and must all arrive before the clock starts.
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { buildApp } from '../src/app.js'
import { type RunningWorker, runWorker } from '../src/worker/run-worker.js'
import { addAgency, type TestAgency } from '../test/helpers/agencies.js'
import { provisionTestServices } from '../test/helpers/build-app.js'
import { testConfig, uniqueName } from '../test/helpers/env.js'
import { workerProcessEnv } from '../test/helpers/worker.js'
import { type DocReport, forkRole, percentile, type RunResult, type RunSpec, rpc } from './lib/ipc.js'
import { startProfile } from './lib/profile.js'

const USAGE =
  'usage: tsx bench/delivery.ts [RATE] [SECONDS] [--worker child|same] [--warmup N] [--senders N] ' +
  '[--pull N] [--push N] [--confirm sync|async|off] [--cpu-prof DIR]\n'
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    worker: { type: 'string', default: 'child' },
    warmup: { type: 'string', default: '100' },
    senders: { type: 'string', default: '10' },
    pull: { type: 'string', default: '10' },
    push: { type: 'string', default: '10' },
    confirm: { type: 'string', default: 'sync' },
    /** Writes CPU profiles there: the hub's for the timed run, the child worker's for its lifetime. */
    'cpu-prof': { type: 'string' },
  },
})
const rate = Number(positionals[0] ?? 200)
const seconds = Number(positionals[1] ?? 10)
const warmup = Number(values.warmup)
const mode = values.worker
const confirm = values.confirm
const senderCount = Number(values.senders)
const pullCount = Number(values.pull)
const pushCount = Number(values.push)
if (
  ![rate, seconds, warmup, senderCount, pullCount, pushCount].every((n) => Number.isInteger(n) && n >= 0) ||
  rate <= 0 ||
  seconds <= 0 ||
  senderCount < 1 ||
  pullCount + pushCount < 1 ||
  (mode !== 'same' && mode !== 'child') ||
  (confirm !== 'sync' && confirm !== 'async' && confirm !== 'off')
) {
  process.stderr.write(USAGE)
  process.exit(2)
}
const TARGET_PULL_P99 = 100
const TARGET_PUSH_P99 = 250
const DRAIN_MS = 30_000

const nullStream = new Writable({ write: (_chunk, _encoding, done) => done() })
/** The app's log (at warn) is discarded, except that errors (the 5xx answers) are tallied by message. */
const errorCauses = new Map<string, number>()
const appLog = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.includes('"level":50')) continue
      const entry = JSON.parse(line) as { err?: { message?: string }; msg?: string }
      const cause = entry.err?.message ?? entry.msg ?? 'unknown'
      errorCauses.set(cause, (errorCauses.get(cause) ?? 0) + 1)
    }
    done()
  },
})
const sleep = (n: number) => new Promise((resolve) => setTimeout(resolve, n))
const fmtMs = (n: number) =>
  Number.isNaN(n) ? '–' : n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${n.toFixed(n >= 100 ? 0 : 1)} ms`
const loads = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')
const out = (text = '') => process.stdout.write(`${text}\n`)

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
function cpuSecondsOf(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
  }
}

function startChildWorker(env: Record<string, string | undefined>): ChildProcess {
  const root = fileURLToPath(new URL('..', import.meta.url))
  const profile = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : []
  return spawn(process.execPath, [...profile, '--import', 'tsx', 'src/worker.ts'], {
    cwd: root,
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  })
}

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

async function main() {
  const teardowns: (() => unknown)[] = []
  const fakeTap = { teardown: (fn: () => unknown) => void teardowns.push(fn) }
  let app: FastifyInstance | undefined
  let worker: RunningWorker | undefined
  let child: ChildProcess | undefined
  let loadgen: ChildProcess | undefined
  let cleaned = false
  const cleanup = async () => {
    if (cleaned) return
    cleaned = true
    if (loadgen?.connected) loadgen.kill()
    await worker?.close()
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
    await app?.close()
    for (const fn of teardowns.reverse()) await fn()
  }
  process.once('SIGINT', () => {
    process.stderr.write('interrupted: cleaning up\n')
    void cleanup().finally(() => process.exit(130))
  })

  try {
    const config = await testConfig({
      DATABASE_SCHEMA: uniqueName('bench'),
      QUEUE_PREFIX: `{${uniqueName('bench')}}`,
      PUBLIC_URL: 'http://hub.bench',
      LOG_LEVEL: 'warn',
      // The limiter still runs (its Redis round trip is part of the cost); it must just not refuse.
      RATE_LIMIT_MAX: '1000000000',
      WEBHOOK_ALLOW_LOOPBACK: 'true',
    })
    await provisionTestServices(fakeTap, config)
    loadgen = forkRole('./loadgen.ts')
    const toLoadgen = rpc(loadgen)
    const { url: receiverUrl } = await toLoadgen<{ url: string }>({ type: 'receiver' })

    app = await buildApp(config, { logStream: appLog })
    await app.ready()
    const senders: TestAgency[] = []
    for (let i = 0; i < senderCount; i += 1) {
      senders.push(await addAgency(app, { country: 'RO', alg: 'EdDSA' }))
    }
    const pull: TestAgency[] = []
    const push: TestAgency[] = []
    for (let i = 0; i < pullCount; i += 1) pull.push(await addAgency(app, { country: 'DE' }))
    for (let i = 0; i < pushCount; i += 1)
      push.push(await addAgency(app, { country: 'DE', push: receiverUrl }))
    const recipientIds: string[] = []
    for (let i = 0; i < Math.max(pullCount, pushCount); i += 1) {
      if (pull[i]) recipientIds.push(pull[i]!.id)
      if (push[i]) recipientIds.push(push[i]!.id)
    }
    const bearer = async (agency: TestAgency) => `Bearer ${await agency.client.accessToken()}`
    await app.listen({ host: '127.0.0.1', port: 0 })
    const address = app.server.address()
    const port = typeof address === 'object' && address ? address.port : 0

    if (mode === 'same') {
      worker = await runWorker(config, app.hubKeys, pino({ level: 'warn' }, nullStream))
    } else {
      child = startChildWorker(workerProcessEnv(config, 'warn'))
    }

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
      port,
      recipients: await Promise.all(pull.map(async (p) => ({ id: p.id, authorization: await bearer(p) }))),
      confirm,
    })
    const spec = (from: number, to: number, perSecond: number): RunSpec => ({
      label: 'hub',
      host: '127.0.0.1',
      port,
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

    // Warm-up (also waits for a child worker to be up): its messages must all arrive first.
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

    const loadBefore = loads()
    const pids = { worker: child?.pid, loadgen: loadgen.pid }
    const cpuBefore = {
      hub: process.cpuUsage(),
      worker: cpuSecondsOf(pids.worker),
      loadgen: cpuSecondsOf(pids.loadgen),
    }
    const stopProfile = values['cpu-prof'] ? await startProfile() : undefined
    const started = performance.now()
    process.stderr.write(`running: ${total} referrals at ${rate}/s (load average ${loadBefore})\n`)
    const run = await toLoadgen<RunResult>({ type: 'run', spec: spec(warmup, warmup + total, rate) })
    const drain = await toLoadgen<{ outstanding: number; waitedMs: number }>({
      type: 'await',
      from: warmup,
      to: warmup + total,
      timeoutMs: DRAIN_MS,
    })
    const elapsed = (performance.now() - started) / 1000
    const hubCpu = process.cpuUsage(cpuBefore.hub)
    const cpu = {
      hub: (hubCpu.user + hubCpu.system) / 1e6,
      worker: cpuSecondsOf(pids.worker) - cpuBefore.worker,
      loadgen: cpuSecondsOf(pids.loadgen) - cpuBefore.loadgen,
    }
    const loadAfter = loads()
    await stopProfile?.(join(values['cpu-prof']!, `hub-delivery-${Date.now()}.cpuprofile`))
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

    out('# Delivery latency benchmark')
    out()
    out(
      `${total} referrals at ${rate}/s for ${seconds} s after ${warmup} warm-up; ${senderCount} senders → ` +
        `${pullCount} pull recipients (long-poll, confirm ${confirm}) and ${pushCount} push recipients ` +
        `(webhook); worker ${mode === 'same' ? 'in the API process' : 'in its own process'}`,
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
        `${pulled.latencies.length + pushed.latencies.length} delivered at ${perSecond(pulled.latencies.length + pushed.latencies.length, lastArrival)}/s ` +
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
      fmtMs(sorted.at(-1) ?? Number.NaN),
      ...extra,
    ]
    const rows = [
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
    ]
    const header = ['latency', 'n', 'p50', 'p99', 'p99.9', 'max', 'missing', 'duplicates', 'before the 201']
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
    const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
    out([line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n'))
    out()
    const c = report.counts
    out(
      `recipients, from the first timed POST on: ${c['polls']} long-polls answered (${c['emptyPolls']} empty, ${c['pollErrors']} errors), ` +
        `${c['confirms']} confirmations (${c['confirmErrors']} errors), ${c['webhookRequests']} webhook requests; ` +
        `load generator's event loop late by p99 ${fmtMs(report.eventLoopDelay.p99)}, max ` +
        `${fmtMs(report.eventLoopDelay.max)} (an error on every time it took)`,
    )
    if (report.errorSamples.length > 0) out(`recipient errors: ${report.errorSamples.join(' | ')}`)
    if (run.errorSamples.length > 0) out(`POST errors: ${run.errorSamples.slice(0, 3).join(' | ')}`)
    for (const [cause, n] of errorCauses) out(`API errors logged: ${n} × ${cause}`)
    const share = (s: number) => `${((100 * s) / elapsed).toFixed(0)} %`
    out(
      `CPU from the first timed POST to the last arrival (${elapsed.toFixed(1)} s, % of one core): hub ` +
        `${share(cpu.hub)}${mode === 'same' ? ' (with the worker)' : `, worker ${share(cpu.worker)}`}, load ` +
        `generator and recipients ${share(cpu.loadgen)}`,
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
    const failed =
      refused > 0 ||
      pulled.missing + pushed.missing > 0 ||
      (pullCount > 0 && !(pullP99 < TARGET_PULL_P99)) ||
      (pushCount > 0 && !(pushP99 < TARGET_PUSH_P99))
    if (failed) process.exitCode = 1
    await toLoadgen({ type: 'exit' }).catch(() => {})
  } finally {
    await cleanup()
  }
}

await main()
