// The load generator of bench/referrals.ts and bench/delivery.ts, run as a child process of its own
// (child_process.fork), so that its CPU is not taken from the server under test's event loop. It
// signs the referral documents itself before any timing (they stay in this process), then runs what
// it is asked:
//
// - open loop: request i is due at t0 + i / rate and is fired then whatever happened to earlier
//   requests; its latency runs from that scheduled time, so time spent waiting for a socket, for the
//   generator's own timer or for the server's queue all count (no coordinated omission);
// - closed loop: `concurrency` loops, each sending its next request when the previous one answered,
//   for the saturation throughput;
// - for bench/delivery.ts, the recipients too (bench/lib/recipients.ts): a loopback webhook receiver
//   and one long-poll loop per pull agency, so that the 201 of each POST and the arrival of its
//   message are timed in one process, on one clock.
//
// Plain node:http with a keep-alive Agent (bench/lib/http.ts): no client library to install, and the
// cheapest client Node has, which matters on a 2-core machine shared with the server, Postgres and Redis.
import http from 'node:http'
import type { JWK } from 'jose'
import { type Answer, exchange } from './http.js'
import { type Doc, type RunResult, type RunSpec, serve, type ToLoadgen } from './ipc.js'
import { Recipients } from './recipients.js'

let docs: Doc[] = []
const recipients = new Recipients()

async function sign(message: Extract<ToLoadgen, { type: 'sign' }>) {
  const { signReferral } = await import('../../src/sdk/documents.js')
  const { referralDocument } = await import('../../test/helpers/referrals.js')
  type Sender = Parameters<typeof referralDocument>[0]
  const routed = 'senders' in message
  const senders = routed
    ? message.senders
    : [{ id: message.senderId, signingJwk: message.signingJwk, authorization: undefined }]
  const started = performance.now()
  const out: Doc[] = []
  for (let i = 0; i < message.count; i += 1) {
    const sender = senders[i % senders.length]!
    const recipientId = routed ? message.recipientIds[i % message.recipientIds.length]! : undefined
    const document = referralDocument(
      { id: sender.id } as Sender,
      routed ? { agencyId: recipientId! } : { country: message.recipientCountry },
    )
    const jws = await signReferral(document, sender.signingJwk as JWK & { kid: string; alg: string })
    out.push({
      body: JSON.stringify({ jws }),
      referralId: document.id,
      ...(sender.authorization ? { headers: { authorization: sender.authorization } } : {}),
      ...(recipientId ? { recipientId } : {}),
    })
  }
  docs = out
  const seconds = (performance.now() - started) / 1000
  return { count: out.length, seconds, bytes: Buffer.byteLength(out[0]?.body ?? '') }
}

/** Sends one pre-signed document; past `deadline` (performance.now() time) it is abandoned as TIMEOUT. */
function send(agent: http.Agent, spec: RunSpec, doc: Doc, deadline: number): Promise<Answer> {
  return exchange(agent, {
    host: spec.host,
    port: spec.port,
    method: 'POST',
    path: spec.path,
    headers: doc.headers ? { ...spec.headers, ...doc.headers } : spec.headers,
    body: doc.body,
    deadline,
    keepBody: (status) => status !== spec.expectStatus,
    maxBody: 300,
  })
}

/** Sends document `index` and notes on it when it was due, when it was answered and how. */
async function sendDoc(agent: http.Agent, spec: RunSpec, index: number, due: number): Promise<Answer> {
  const doc = docs[index]!
  const answer = await send(agent, spec, doc, due + spec.timeoutMs)
  doc.due = due
  doc.end = answer.end
  doc.status = answer.status
  return answer
}

async function run(spec: RunSpec): Promise<RunResult> {
  const agent = new http.Agent({
    keepAlive: true,
    // Open loop: enough sockets that the generator itself is not the queue (until the server is far
    // behind; then requests wait for a socket here, and that wait is part of their latency).
    maxSockets: spec.mode === 'open' ? 512 : spec.concurrency,
  })
  const latencies: number[] = []
  const statuses: Record<string, number> = {}
  const errorSamples: string[] = []
  let warmupErrors = 0
  let okTotal = 0
  let inFlight = 0
  let maxInFlight = 0
  let exhausted = false
  const record = (answer: Answer, latency: number, measured: boolean) => {
    const ok = answer.status === String(spec.expectStatus)
    if (ok) okTotal += 1
    if (!ok && errorSamples.length < 5) errorSamples.push(`${answer.status} ${answer.body ?? ''}`.trim())
    if (!measured) {
      if (!ok) warmupErrors += 1
      return
    }
    latencies.push(latency)
    statuses[answer.status] = (statuses[answer.status] ?? 0) + 1
  }

  /** What both loops report the same way. */
  const result = () => ({
    label: spec.label,
    mode: spec.mode,
    latencies,
    statuses,
    warmupErrors,
    okTotal,
    errorSamples,
    maxInFlight,
    exhausted,
  })

  if (spec.mode === 'open') {
    const interval = 1000 / spec.rate
    const total = Math.round(spec.rate * (spec.warmupSeconds + spec.seconds))
    const warmupCount = Math.round(spec.rate * spec.warmupSeconds)
    const lags: number[] = []
    const slowestPerSecond: number[] = []
    const t0 = performance.now() + 20
    let i = 0
    let lastScheduled = t0
    await new Promise<void>((resolveAll) => {
      const finishIfDone = () => {
        if (i >= total && inFlight === 0) resolveAll()
      }
      const tick = () => {
        const now = performance.now()
        while (i < total && t0 + i * interval <= now) {
          if (spec.from + i >= spec.to) {
            exhausted = true
            i = total
            break
          }
          const scheduled = t0 + i * interval
          const measured = i >= warmupCount
          lastScheduled = scheduled
          if (measured) lags.push(now - scheduled)
          inFlight += 1
          maxInFlight = Math.max(maxInFlight, inFlight)
          void sendDoc(agent, spec, spec.from + i, scheduled).then((answer) => {
            inFlight -= 1
            record(answer, answer.end - scheduled, measured)
            if (measured) {
              const second = Math.floor((scheduled - t0) / 1000 - spec.warmupSeconds)
              slowestPerSecond[second] = Math.max(slowestPerSecond[second] ?? 0, answer.end - scheduled)
            }
            finishIfDone()
          })
          i += 1
        }
        if (i < total) setTimeout(tick, Math.max(0, t0 + i * interval - performance.now()))
        else finishIfDone()
      }
      setTimeout(tick, 20)
    })
    lags.sort((a, b) => a - b)
    agent.destroy()
    const windowSeconds = exhausted
      ? Math.max(0, (lastScheduled - t0) / 1000 - spec.warmupSeconds)
      : spec.seconds
    return {
      ...result(),
      lagP99: lags[Math.max(0, Math.ceil(lags.length * 0.99) - 1)] ?? Number.NaN,
      lagMax: lags.at(-1) ?? Number.NaN,
      slowestPerSecond: Array.from(slowestPerSecond, (v) => v ?? 0),
      windowSeconds,
    }
  }

  const t0 = performance.now()
  const windowStart = t0 + spec.warmupSeconds * 1000
  let windowEnd = windowStart + spec.seconds * 1000
  let next = spec.from
  const loop = async () => {
    while (performance.now() < windowEnd) {
      if (next >= spec.to) {
        if (!exhausted) windowEnd = Math.max(windowStart, performance.now())
        exhausted = true
        return
      }
      const index = next++
      const started = performance.now()
      inFlight += 1
      maxInFlight = Math.max(maxInFlight, inFlight)
      const answer = await sendDoc(agent, spec, index, started)
      inFlight -= 1
      record(answer, answer.end - started, answer.end >= windowStart && answer.end <= windowEnd)
    }
  }
  await Promise.all(Array.from({ length: spec.concurrency }, loop))
  agent.destroy()
  return {
    ...result(),
    lagP99: Number.NaN,
    lagMax: Number.NaN,
    windowSeconds: (windowEnd - windowStart) / 1000,
  }
}

serve<ToLoadgen>(async (message) => {
  switch (message.type) {
    case 'sign':
      return sign(message)
    case 'run':
      recipients.watchLoop()
      return run(message.spec)
    case 'receiver':
      return { url: await recipients.startReceiver() }
    case 'poll':
      recipients.poll(message)
      return null
    case 'await':
      return recipients.awaitDelivered(docs.slice(message.from, message.to), message.timeoutMs)
    case 'report':
      return recipients.report(docs.slice(message.from, message.to))
    case 'exit':
      await recipients.stop()
      setImmediate(() => process.exit(0))
      return null
  }
})
