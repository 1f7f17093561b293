// Webhook delivery latency: from POST /v1/referrals returning 201 to the recipient's loopback webhook
// receiving the signed message, at a fixed arrival rate, against the real Postgres and Redis.
//
//   npx tsx bench/delivery.ts [RATE=200] [SECONDS=10] [--worker same|child] [--warmup 100]
//
// Open loop: request i starts at i/RATE seconds whether or not earlier ones have answered, so a slow
// hub shows up as latency, not as a lower offered rate. The path measured is the whole delivery path:
// the referral transaction writes the inbox message and a webhook outbox row, NOTIFY wakes the outbox
// relay, the relay adds the job to BullMQ, a worker signs and POSTs it. `--worker same` runs the worker
// (relay and BullMQ workers) in this process; `--worker child` runs `node --import tsx src/worker.ts`
// as a second process, as in production. Referral JWSs are signed before the clock starts.
import { type ChildProcess, spawn } from 'node:child_process'
import { availableParallelism, cpus } from 'node:os'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { buildApp } from '../src/app.js'
import { signReferral } from '../src/sdk/documents.js'
import { type RunningWorker, runWorker } from '../src/worker/run-worker.js'
import { addAgency, type TestAgency } from '../test/helpers/agencies.js'
import { provisionTestServices } from '../test/helpers/build-app.js'
import { DATABASE_URL, REDIS_URL, testConfig, uniqueName } from '../test/helpers/env.js'
import { referralDocument } from '../test/helpers/referrals.js'
import { WebhookReceiver } from '../test/helpers/webhook-receiver.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    worker: { type: 'string', default: 'same' },
    warmup: { type: 'string', default: '100' },
    senders: { type: 'string', default: '10' },
    recipients: { type: 'string', default: '10' },
  },
})
const rate = Number(positionals[0] ?? 200)
const seconds = Number(positionals[1] ?? 10)
const warmup = Number(values.warmup)
const mode = values.worker
const senderCount = Number(values.senders)
const recipientCount = Number(values.recipients)
if (
  ![rate, seconds, warmup, senderCount, recipientCount].every((n) => Number.isFinite(n) && n >= 0) ||
  rate <= 0 ||
  seconds <= 0 ||
  senderCount < 1 ||
  recipientCount < 1
) {
  process.stderr.write(
    'usage: tsx bench/delivery.ts [RATE] [SECONDS] [--worker same|child] [--warmup N] [--senders N] [--recipients N]\n',
  )
  process.exit(2)
}
if (mode !== 'same' && mode !== 'child') {
  process.stderr.write('--worker is same or child\n')
  process.exit(2)
}

const nullStream = new Writable({ write: (_chunk, _encoding, done) => done() })
/** The app's log is discarded, except that errors (the 5xx answers) are tallied by message. */
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
const teardowns: (() => unknown)[] = []
const fakeTap = { teardown: (fn: () => unknown) => void teardowns.push(fn) }
const percentile = (sorted: number[], p: number) =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
const ms = (n: number) => `${n.toFixed(1)} ms`
const sleep = (n: number) => new Promise((resolve) => setTimeout(resolve, n))

interface Sent {
  returned: number
  status: number
}

async function fire(url: string, jwss: { id: string; jws: string; token: string }[], perSecond: number) {
  const sent = new Map<string, Sent>()
  const submitLatencies: number[] = []
  const start = performance.now()
  const inFlight: Promise<void>[] = []
  for (const [i, { id, jws, token }] of jwss.entries()) {
    const due = start + (i * 1000) / perSecond
    const wait = due - performance.now()
    if (wait > 1) await sleep(wait)
    inFlight.push(
      (async () => {
        const began = performance.now()
        let status: number
        try {
          const response = await fetch(url, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ jws }),
          })
          await response.arrayBuffer()
          status = response.status
        } catch {
          status = 0
        }
        const returned = performance.now()
        submitLatencies.push(returned - began)
        sent.set(id, { returned, status })
      })(),
    )
  }
  await Promise.all(inFlight)
  return { sent, submitLatencies, offeredSeconds: (performance.now() - start) / 1000 }
}

function startChildWorker(env: Record<string, string | undefined>): ChildProcess {
  const root = fileURLToPath(new URL('..', import.meta.url))
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
    cwd: root,
    env: { PATH: process.env['PATH'], ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  return child
}

async function main() {
  const config = await testConfig({
    DATABASE_SCHEMA: uniqueName('bench'),
    QUEUE_PREFIX: `{${uniqueName('bench')}}`,
    PUBLIC_URL: 'http://hub.bench',
    LOG_LEVEL: 'info',
    RATE_LIMIT_MAX: '100000000',
    WEBHOOK_ALLOW_LOOPBACK: 'true',
  })
  await provisionTestServices(fakeTap, config)
  const received = new Map<string, number>()
  let duplicates = 0
  const receiver = new WebhookReceiver((_n, _request) => 200)
  let app: FastifyInstance | undefined
  let worker: RunningWorker | undefined
  let child: ChildProcess | undefined
  try {
    await receiver.start()
    // Record the arrival time of each referral message (by referral id) as it lands.
    const original = receiver.received.push.bind(receiver.received)
    receiver.received.push = (...items) => {
      for (const item of items) {
        const body = JSON.parse(item.body.toString('utf8')) as { type: string; referralId: string }
        if (body.type !== 'referral') continue
        if (received.has(body.referralId)) duplicates += 1
        else received.set(body.referralId, item.at)
      }
      return original(...items)
    }

    app = await buildApp(config, { logStream: appLog })
    await app.ready()
    const senders: TestAgency[] = []
    for (let i = 0; i < senderCount; i += 1)
      senders.push(await addAgency(app, { country: 'RO', alg: 'EdDSA' }))
    const recipients: TestAgency[] = []
    for (let i = 0; i < recipientCount; i += 1) {
      recipients.push(await addAgency(app, { country: 'DE', push: receiver.url }))
    }
    const address = await app.listen({ host: '127.0.0.1', port: 0 })
    const tokens = await Promise.all(senders.map((sender) => sender.client.accessToken()))

    if (mode === 'same') {
      worker = await runWorker(config, app.hubKeys, pino({ level: 'warn' }, nullStream))
    } else {
      child = startChildWorker({
        DATABASE_URL,
        DATABASE_SCHEMA: config.databaseSchema,
        REDIS_URL,
        QUEUE_PREFIX: config.queuePrefix,
        HUB_SIGNING_KEYS: config.hubKeys.json,
        WEBHOOK_ALLOW_LOOPBACK: 'true',
        LOG_LEVEL: 'warn',
      })
    }

    const total = Math.round(rate * seconds)
    // Round robin over senders and recipients: each agency's inbox head is a row lock held to commit,
    // so one recipient alone is limited by commit latency (see the figures with --recipients 1).
    const sign = async (n: number) => {
      const out: { id: string; jws: string; token: string }[] = []
      for (let i = 0; i < n; i += 1) {
        const sender = senders[i % senders.length]!
        const recipient = recipients[i % recipients.length]!
        const document = referralDocument(sender, { agencyId: recipient.id })
        const jws = await signReferral(document, sender.keys.signing)
        out.push({ id: document.id, jws, token: tokens[i % senders.length]! })
      }
      return out
    }
    const warm = await sign(warmup)
    const timed = await sign(total)
    const url = `${address}/v1/referrals`

    // Warm-up (also waits for a child worker to be up): its messages must arrive before the clock starts.
    await fire(url, warm, Math.min(rate, 100))
    const warmDeadline = Date.now() + 60_000
    while (warm.some((w) => !received.has(w.id)) && Date.now() < warmDeadline) await sleep(20)

    const cpuBefore = process.cpuUsage()
    const cpuStarted = performance.now()
    const run = await fire(url, timed, rate)
    const drainDeadline = Date.now() + 30_000
    while (timed.some((w) => !received.has(w.id)) && Date.now() < drainDeadline) await sleep(20)
    const cpu = process.cpuUsage(cpuBefore)
    const cpuSeconds = (performance.now() - cpuStarted) / 1000
    await sleep(500) // late duplicates

    const latencies: number[] = []
    let missing = 0
    let refused = 0
    let early = 0
    for (const { id } of timed) {
      const sent = run.sent.get(id)
      if (sent?.status !== 201) {
        refused += 1
        continue
      }
      const at = received.get(id)
      if (at === undefined) {
        missing += 1
        continue
      }
      // The webhook may land before the 201 has travelled back to the client: that counts as 0.
      if (at < sent.returned) early += 1
      latencies.push(Math.max(0, at - sent.returned))
    }
    latencies.sort((a, b) => a - b)
    const submit = [...run.submitLatencies].sort((a, b) => a - b)
    const wall = run.offeredSeconds
    const statuses = new Map<number, number>()
    for (const { status } of run.sent.values()) statuses.set(status, (statuses.get(status) ?? 0) + 1)
    const lines = [
      `webhook delivery: ${total} referrals at ${rate}/s for ${seconds} s, worker ${mode === 'same' ? 'in the API process' : 'in a second process'}, ${senderCount} senders → ${recipientCount} push recipients, ${warmup} warm-up`,
      `machine: ${availableParallelism()} CPUs (${cpus()[0]?.model.trim()}), node ${process.version}`,
      `offered: ${(total / wall).toFixed(0)} referrals/s over ${wall.toFixed(2)} s; refused or failed: ${refused} (statuses ${[...statuses].map(([k, v]) => `${k}: ${v}`).join(', ')})`,
      `POST /v1/referrals: p50 ${ms(percentile(submit, 50))}, p99 ${ms(percentile(submit, 99))}, max ${ms(submit.at(-1) ?? Number.NaN)}`,
      `201 returned → webhook received: p50 ${ms(percentile(latencies, 50))}, p99 ${ms(percentile(latencies, 99))}, max ${ms(latencies.at(-1) ?? Number.NaN)} (${early} arrived before the 201 was read)`,
      `delivered ${latencies.length}, missing ${missing}, duplicates ${duplicates}`,
      ...[...errorCauses].map(([cause, n]) => `API errors logged: ${n} × ${cause}`),
      `this process: ${(((cpu.user + cpu.system) / 1e6 / cpuSeconds) * 100).toFixed(0)}% of one CPU from the first request to the last delivery`,
    ]
    process.stdout.write(`${lines.join('\n')}\n`)
    if (missing > 0 || refused > 0) process.exitCode = 1
  } finally {
    await worker?.close()
    if (child?.exitCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
    await app?.close()
    await receiver.close()
    for (const fn of teardowns.reverse()) await fn()
  }
}

await main()
