// The client of bench/drills.ts: an agency's system that must not lose a referral. Each referral has a
// fixed id and one signed JWS; it is POSTed at its due time (open loop, `rate` per second) to one of
// the hub's API processes, and on a network error, a timeout, 5xx, 409 (still being processed) or 429
// the very same body (same bytes) is sent again, to the next API process in turn, with a growing pause,
// until the hub answers 201 (stored) or 200 (an identical replay: stored before), or `giveUpMs` after
// its due time. Any other answer (a 4xx) is final: the referral was refused.
import http from 'node:http'
import { exchange } from './http.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export interface Submission {
  referralId: string
  /** `{"jws":"…"}`, signed once. */
  body: string
  authorization: string
}

/** One answer to one attempt; times are performance.now() of this process. */
export interface Attempt {
  index: number
  target: number
  sent: number
  end: number
  /** HTTP status as digits, or the error code (ECONNREFUSED, ECONNRESET, TIMEOUT…). */
  status: string
}

export interface Outcome {
  /** '201', '200', 'gave up', or the refusing status ('422'…). */
  final: string
  attempts: number
  due: number
  end: number
  /** The body of a refusal, cut short, to say what went wrong. */
  refusal?: string
}

export interface SenderOptions {
  host: string
  ports: number[]
  attemptTimeoutMs: number
  giveUpMs: number
  maxPauseMs: number
}

const retryable = (status: string) =>
  !/^\d+$/.test(status) || status.startsWith('5') || status === '409' || status === '429'

export class IdempotentSender {
  readonly attempts: Attempt[] = []
  readonly outcomes: (Outcome | undefined)[] = []
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256 })
  private started = 0
  private finished = 0

  constructor(private readonly options: SenderOptions) {}

  /** Sends every submission, i due at start + i / rate s; resolves when each has its outcome. */
  async run(submissions: Submission[], rate: number, onProgress?: () => void): Promise<void> {
    const t0 = performance.now() + 20
    const all: Promise<void>[] = []
    const progress = onProgress ? setInterval(onProgress, 5000) : undefined
    for (let i = 0; i < submissions.length; i += 1) {
      const due = t0 + (i * 1000) / rate
      const wait = due - performance.now()
      if (wait > 0) await sleep(wait)
      all.push(this.submit(i, submissions[i]!, due))
    }
    await Promise.all(all)
    clearInterval(progress)
    this.agent.destroy()
  }

  private async submit(index: number, submission: Submission, due: number): Promise<void> {
    this.started += 1
    const { ports, host, attemptTimeoutMs, giveUpMs, maxPauseMs } = this.options
    let attempt = 0
    for (;;) {
      const target = (index + attempt) % ports.length
      attempt += 1
      const sent = performance.now()
      const answer = await exchange(this.agent, {
        host,
        port: ports[target]!,
        method: 'POST',
        path: '/v1/referrals',
        headers: { 'content-type': 'application/json', authorization: submission.authorization },
        body: submission.body,
        deadline: sent + attemptTimeoutMs,
        keepBody: (status) => status >= 400 && status < 500,
        maxBody: 300,
      })
      this.attempts.push({ index, target, sent, end: answer.end, status: answer.status })
      const done = (final: string, refusal?: string) => {
        this.outcomes[index] = {
          final,
          attempts: attempt,
          due,
          end: answer.end,
          ...(refusal ? { refusal } : {}),
        }
        this.finished += 1
      }
      if (answer.status === '201' || answer.status === '200') return done(answer.status)
      if (!retryable(answer.status)) return done(answer.status, answer.body)
      if (performance.now() - due > giveUpMs) return done('gave up')
      const pause = Math.min(maxPauseMs, 100 * 2 ** (attempt - 1))
      await sleep(pause * (0.5 + Math.random() / 2))
    }
  }

  /** Referrals sent so far, answered for good, and still being tried. */
  progress(): { started: number; finished: number; inFlight: number; attempts: number } {
    return {
      started: this.started,
      finished: this.finished,
      inFlight: this.started - this.finished,
      attempts: this.attempts.length,
    }
  }
}
