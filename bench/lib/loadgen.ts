// The load generator of bench/referrals.ts, run as a child process of its own (child_process.fork),
// so that its CPU is not taken from the server under test's event loop. It signs the referral
// documents itself before any timing (they stay in this process), then runs what it is asked:
//
// - open loop: request i is due at t0 + i / rate and is fired then whatever happened to earlier
//   requests; its latency runs from that scheduled time, so time spent waiting for a socket, for the
//   generator's own timer or for the server's queue all count (no coordinated omission);
// - closed loop: `concurrency` loops, each sending its next request when the previous one answered,
//   for the saturation throughput.
//
// Plain node:http with a keep-alive Agent: no client library to install, and the cheapest client
// Node has, which matters on a 2-core machine shared with the server, Postgres and Redis.
import http from 'node:http'
import type { JWK } from 'jose'
import { type RunResult, type RunSpec, serve, type ToLoadgen } from './ipc.js'

let bodies: string[] = []

async function sign(message: Extract<ToLoadgen, { type: 'sign' }>) {
  const { signReferral } = await import('../../src/sdk/documents.js')
  const { referralDocument } = await import('../../test/helpers/referrals.js')
  const sender = { id: message.senderId } as Parameters<typeof referralDocument>[0]
  const jwk = message.signingJwk as JWK & { kid: string; alg: string }
  const started = performance.now()
  const out: string[] = []
  for (let i = 0; i < message.count; i += 1) {
    const document = referralDocument(sender, { country: message.recipientCountry })
    out.push(JSON.stringify({ jws: await signReferral(document, jwk) }))
  }
  bodies = out
  const seconds = (performance.now() - started) / 1000
  return { count: out.length, seconds, bytes: Buffer.byteLength(out[0] ?? '') }
}

interface Answer {
  status: string
  end: number
  body?: string
}

/** Sends one request; past `deadline` (performance.now() time) it is abandoned as TIMEOUT. */
function send(agent: http.Agent, spec: RunSpec, body: string, deadline: number): Promise<Answer> {
  return new Promise((resolveOnce) => {
    let timer: NodeJS.Timeout | undefined
    const resolve = (answer: Answer) => {
      clearTimeout(timer)
      resolveOnce(answer)
    }
    const request = http.request(
      {
        agent,
        host: spec.host,
        port: spec.port,
        path: spec.path,
        method: 'POST',
        headers: { ...spec.headers, 'content-length': Buffer.byteLength(body) },
      },
      (response) => {
        const status = String(response.statusCode)
        const keep = response.statusCode !== spec.expectStatus
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => {
          if (keep) chunks.push(chunk)
        })
        response.on('end', () =>
          resolve({
            status,
            end: performance.now(),
            ...(keep ? { body: Buffer.concat(chunks).toString('utf8').slice(0, 300) } : {}),
          }),
        )
        response.on('error', (error: NodeJS.ErrnoException) =>
          resolve({ status: error.code ?? error.name, end: performance.now() }),
        )
      },
    )
    timer = setTimeout(
      () => request.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })),
      Math.max(0, deadline - performance.now()),
    )
    request.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ status: error.code ?? error.name, end: performance.now() }),
    )
    request.end(body)
  })
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
  let inFlight = 0
  let maxInFlight = 0
  let exhausted = false
  const record = (answer: Answer, latency: number, measured: boolean) => {
    const ok = answer.status === String(spec.expectStatus)
    if (!ok && errorSamples.length < 5) errorSamples.push(`${answer.status} ${answer.body ?? ''}`.trim())
    if (!measured) {
      if (!ok) warmupErrors += 1
      return
    }
    latencies.push(latency)
    statuses[answer.status] = (statuses[answer.status] ?? 0) + 1
  }

  if (spec.mode === 'open') {
    const interval = 1000 / spec.rate
    const total = Math.round(spec.rate * (spec.warmupSeconds + spec.seconds))
    const warmupCount = Math.round(spec.rate * spec.warmupSeconds)
    const lags: number[] = []
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
          void send(agent, spec, bodies[spec.from + i]!, scheduled + spec.timeoutMs).then((answer) => {
            inFlight -= 1
            record(answer, answer.end - scheduled, measured)
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
      label: spec.label,
      mode: spec.mode,
      latencies,
      statuses,
      warmupErrors,
      errorSamples,
      lagP99: lags[Math.max(0, Math.ceil(lags.length * 0.99) - 1)] ?? Number.NaN,
      lagMax: lags.at(-1) ?? Number.NaN,
      maxInFlight,
      windowSeconds,
      exhausted,
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
      const body = bodies[next++]!
      const started = performance.now()
      inFlight += 1
      maxInFlight = Math.max(maxInFlight, inFlight)
      const answer = await send(agent, spec, body, started + spec.timeoutMs)
      inFlight -= 1
      record(answer, answer.end - started, answer.end >= windowStart && answer.end <= windowEnd)
    }
  }
  await Promise.all(Array.from({ length: spec.concurrency }, loop))
  agent.destroy()
  return {
    label: spec.label,
    mode: spec.mode,
    latencies,
    statuses,
    warmupErrors,
    errorSamples,
    lagP99: Number.NaN,
    lagMax: Number.NaN,
    maxInFlight,
    windowSeconds: (windowEnd - windowStart) / 1000,
    exhausted,
  }
}

serve<ToLoadgen>(async (message) => {
  switch (message.type) {
    case 'sign':
      return sign(message)
    case 'run':
      return run(message.spec)
    case 'exit':
      setImmediate(() => process.exit(0))
      return null
  }
})
