import http from 'node:http'
import type net from 'node:net'

export interface ReceivedWebhook {
  messageId: string
  signature: string
  contentType: string
  body: Buffer
  at: number
}

/** What the receiver does with its n-th request (1-based): answer with a status, or hold it unanswered. */
export type Behaviour = (
  n: number,
  request: http.IncomingMessage,
) => number | 'hold' | { status: number; headers: Record<string, string> }

/**
 * A real webhook receiver on a random loopback port: it records every request (headers and raw body)
 * and answers as the test tells it to.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = []
  connections = 0
  behaviour: Behaviour
  private readonly server: http.Server
  private readonly held = new Set<http.ServerResponse>()
  private readonly sockets = new Set<net.Socket>()
  private waiters: (() => void)[] = []

  constructor(behaviour: Behaviour = () => 204) {
    this.behaviour = behaviour
    this.server = http.createServer((request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        this.received.push({
          messageId: String(request.headers['trm-message-id'] ?? ''),
          signature: String(request.headers['trm-signature'] ?? ''),
          contentType: String(request.headers['content-type'] ?? ''),
          body: Buffer.concat(chunks),
          at: performance.now(),
        })
        for (const wake of this.waiters.splice(0)) wake()
        const answer = this.behaviour(this.received.length, request)
        if (answer === 'hold') {
          this.held.add(response)
          response.on('close', () => this.held.delete(response))
          return
        }
        const { status, headers } = typeof answer === 'number' ? { status: answer, headers: {} } : answer
        response
          .writeHead(status, { 'content-type': 'text/plain', ...headers })
          .end(status < 300 ? 'ok' : 'not now')
      })
    })
    this.server.on('connection', (socket) => {
      this.connections += 1
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
    })
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    return this.url
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks/trm`
  }

  /** Distinct message ids received, and how many requests repeated one already seen. */
  tally(): { ids: Set<string>; duplicates: number } {
    const ids = new Set(this.received.map((r) => r.messageId))
    return { ids, duplicates: this.received.length - ids.size }
  }

  /** Resolves once `count` requests have arrived (or rejects after timeoutMs). */
  async waitFor(count: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.received.length < count) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`receiver got ${this.received.length} of ${count} requests`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

/** Polls until `check` returns a value (not undefined/false) or the time is up; for cross-process outcomes. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs = 10_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

/** A receiver started for one test and closed at its teardown. */
export async function receiverFor(
  t: { teardown: (fn: () => unknown) => void },
  behaviour: Behaviour,
): Promise<WebhookReceiver> {
  const receiver = new WebhookReceiver(behaviour)
  await receiver.start()
  t.teardown(() => receiver.close())
  return receiver
}
