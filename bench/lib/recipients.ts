// The receiving agencies of bench/delivery.ts, inside the load generator's process (so that a POST's
// 201 and the arrival of its message are read on one clock):
//
// - push agencies: one loopback webhook receiver (test/helpers/webhook-receiver.ts) shared by all of
//   them, answering 204 at once; arrival = the request's body read whole;
// - pull agencies: one long-poll loop each, as an agency's system would run it: GET
//   /v1/inbox?wait=30&after=<cursor>, note the referrals it returned, confirm them with POST
//   /v1/inbox/confirm { through: <last cursor> } (`sync`: before polling again, as README step 5
//   describes; `async`: without waiting, at most one confirmation in flight; `off`: never), then poll
//   again from the returned cursor. Arrival = the long-poll's answer read whole.
import http from 'node:http'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { WebhookReceiver } from '../../test/helpers/webhook-receiver.js'
import { exchange } from './http.js'
import type { Doc } from './ipc.js'
import { type DocReport, type PullRecipient, type ToLoadgen, toClock } from './ipc.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const LOOP_RESOLUTION_MS = 2

interface Arrival {
  at: number
  copies: number
}

interface InboxPage {
  items: { type: string; referralId: string; cursor: string }[]
  next: string | null
}

export class Recipients {
  private receiver: WebhookReceiver | undefined
  private readonly pulled = new Map<string, Arrival>()
  private readonly pullIds = new Set<string>()
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1024 })
  private stopped = false
  private loops: Promise<void>[] = []
  private readonly counts = {
    polls: 0,
    emptyPolls: 0,
    pollErrors: 0,
    confirms: 0,
    confirmErrors: 0,
    other: 0,
  }
  private readonly errorSamples: string[] = []
  /** How late this process's event loop ran (the error on every time it takes), from the first poll on. */
  private readonly loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
  /** Webhook arrivals by referral id, parsed from the receiver's requests as they are asked for. */
  private readonly hooked = new Map<string, Arrival>()
  private parsed = 0
  private webhooksBefore = 0
  private connectionsBefore = 0

  async startReceiver(): Promise<string> {
    this.receiver = new WebhookReceiver(() => 204)
    return this.receiver.start()
  }

  /** A timed run starts: count from now on, and watch how late the event loop runs. */
  watchLoop(): void {
    if (!this.receiver && this.pullIds.size === 0) return // bench/referrals.ts: no recipients here
    for (const key of Object.keys(this.counts) as (keyof typeof this.counts)[]) this.counts[key] = 0
    this.webhooksBefore = this.receiver?.received.length ?? 0
    this.connectionsBefore = this.receiver?.connections ?? 0
    this.loopDelay.reset()
    this.loopDelay.enable()
  }

  poll(message: Extract<ToLoadgen, { type: 'poll' }>): void {
    for (const recipient of message.recipients) {
      this.pullIds.add(recipient.id)
      this.loops.push(this.loop(message, recipient))
    }
  }

  private async loop(
    target: { host: string; port: number; confirm: 'sync' | 'async' | 'off' },
    as: PullRecipient,
  ) {
    const call = (method: string, path: string, body?: string) =>
      exchange(this.agent, {
        host: target.host,
        port: target.port,
        method,
        path,
        headers: {
          authorization: as.authorization,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body }),
        deadline: performance.now() + 60_000,
        keepBody: () => true,
      })
    const failed = (what: string, status: string, body?: string) => {
      if (this.errorSamples.length < 5)
        this.errorSamples.push(`${what}: ${status} ${body?.slice(0, 200) ?? ''}`)
    }
    let after: string | undefined
    let confirming: Promise<void> | undefined
    let toConfirm: string | undefined
    const confirm = async () => {
      while (toConfirm && !this.stopped) {
        const through = toConfirm
        toConfirm = undefined
        const answer = await call('POST', '/v1/inbox/confirm', JSON.stringify({ through }))
        this.counts.confirms += 1
        if (answer.status !== '200') {
          this.counts.confirmErrors += 1
          failed('confirm', answer.status, answer.body)
        }
      }
    }
    while (!this.stopped) {
      const answer = await call('GET', `/v1/inbox?wait=30&limit=100${after ? `&after=${after}` : ''}`)
      const at = toClock(answer.end)
      if (this.stopped) return
      this.counts.polls += 1
      if (answer.status !== '200') {
        this.counts.pollErrors += 1
        failed('long-poll', answer.status, answer.body)
        await sleep(100)
        continue
      }
      const page = JSON.parse(answer.body ?? '{}') as InboxPage
      if (page.items.length === 0) this.counts.emptyPolls += 1
      for (const item of page.items) {
        if (item.type !== 'referral') {
          this.counts.other += 1
          continue
        }
        const seen = this.pulled.get(item.referralId)
        if (seen) seen.copies += 1
        else this.pulled.set(item.referralId, { at, copies: 1 })
      }
      if (page.next) after = page.next
      const last = page.items.at(-1)?.cursor
      if (!last || target.confirm === 'off') continue
      toConfirm = last
      if (target.confirm === 'sync') await confirm()
      else confirming ??= confirm().finally(() => (confirming = undefined))
    }
  }

  /** Arrivals by referral id through the webhook (body read whole), on `toClock()`. */
  private webhooks(): Map<string, Arrival> {
    const received = this.receiver?.received ?? []
    for (; this.parsed < received.length; this.parsed += 1) {
      const request = received[this.parsed]!
      const body = JSON.parse(request.body.toString('utf8')) as { type: string; referralId: string }
      if (body.type !== 'referral') continue
      const seen = this.hooked.get(body.referralId)
      if (seen) seen.copies += 1
      else this.hooked.set(body.referralId, { at: toClock(request.at), copies: 1 })
    }
    return this.hooked
  }

  private arrivals(docs: Doc[]) {
    const webhooks = this.webhooks()
    return docs.map((doc) => {
      const pull = this.pullIds.has(doc.recipientId ?? '')
      return { doc, pull, arrival: (pull ? this.pulled : webhooks).get(doc.referralId) }
    })
  }

  /** Waits until every document answered 201 has arrived; answers how many have not (0: all did). */
  async awaitDelivered(docs: Doc[], timeoutMs: number): Promise<{ outstanding: number; waitedMs: number }> {
    const started = performance.now()
    for (;;) {
      const outstanding = this.arrivals(docs).filter((a) => a.doc.status === '201' && !a.arrival).length
      const waitedMs = performance.now() - started
      if (outstanding === 0 || waitedMs > timeoutMs) return { outstanding, waitedMs }
      await sleep(50)
    }
  }

  report(docs: Doc[]) {
    const reports: DocReport[] = this.arrivals(docs).map(({ doc, pull, arrival }) => ({
      ...(doc.status === undefined ? {} : { status: doc.status }),
      ...(doc.due === undefined ? {} : { due: toClock(doc.due) }),
      ...(doc.end === undefined ? {} : { end: toClock(doc.end) }),
      pull,
      ...(arrival ? { at: arrival.at } : {}),
      copies: arrival?.copies ?? 0,
    }))
    return {
      docs: reports,
      counts: {
        ...this.counts,
        webhookRequests: (this.receiver?.received.length ?? 0) - this.webhooksBefore,
        webhookConnections: (this.receiver?.connections ?? 0) - this.connectionsBefore,
      },
      errorSamples: this.errorSamples,
      // The histogram holds each timer's whole interval: the lateness is what exceeds the resolution.
      eventLoopDelay: {
        p99: Math.max(0, this.loopDelay.percentile(99) / 1e6 - LOOP_RESOLUTION_MS),
        max: Math.max(0, this.loopDelay.max / 1e6 - LOOP_RESOLUTION_MS),
      },
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.agent.destroy() // ends the long-polls in progress
    await Promise.allSettled(this.loops)
    await this.receiver?.close()
  }
}
