import type { MinimalJob } from 'bullmq'
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import {
  jobOptionsFor,
  nominalWebhookDelay,
  nominalWebhookSchedule,
  WEBHOOK_BACKOFF,
  WEBHOOK_BACKOFF_CAP_MS,
  webhookBackoffStrategy,
} from '../../src/jobs/job-options.js'

const config = loadConfig({
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: 'redis://127.0.0.1:6379',
  HUB_SIGNING_KEYS_FILE: '/tmp/keys.json',
})
const DAY_MS = 24 * 3600 * 1000
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0)

t.test('the default webhook schedule (20 attempts, 30 s base) spans at least 24 hours', async (t) => {
  t.equal(config.webhooks.maxAttempts, 20)
  t.equal(config.webhooks.backoffMs, 30_000)
  const schedule = nominalWebhookSchedule(config.webhooks.maxAttempts, config.webhooks.backoffMs)
  t.equal(schedule.length, 19, 'one wait between each two attempts')
  t.same(
    schedule.slice(0, 9).map((ms) => ms / 1000),
    [30, 60, 120, 240, 480, 960, 1920, 3840, 7200],
    'doubling from 30 s until the 2 h cap',
  )
  t.ok(
    schedule.every((ms) => ms <= WEBHOOK_BACKOFF_CAP_MS),
    'no nominal wait above 2 h',
  )
  t.equal(sum(schedule), 86_850_000, '24 h 7 min 30 s')
  t.ok(sum(schedule) >= DAY_MS)
})

t.test('each wait is the nominal one with ±20% jitter', async (t) => {
  for (const [random, factor] of [
    [0, 0.8],
    [0.5, 1],
    [0.999999, 1.2],
  ] as const) {
    const strategy = webhookBackoffStrategy(30_000, { random: () => random })
    for (let retry = 1; retry <= 12; retry += 1) {
      const delay = strategy(retry, WEBHOOK_BACKOFF) as number
      const nominal = nominalWebhookDelay(retry, 30_000)
      t.ok(
        Math.abs(delay - nominal * factor) <= nominal * 1e-5 + 1,
        `retry ${retry} at random ${random}: ${delay}`,
      )
    }
  }
  t.throws(() => webhookBackoffStrategy(30_000)(1, 'fibonacci'), /unknown backoff type/)
})

t.test(
  'whatever the jitter draws, the final attempt comes no earlier than the nominal schedule',
  async (t) => {
    const attempts = config.webhooks.maxAttempts
    const base = config.webhooks.backoffMs
    for (const random of [0, 0.25, 0.5, 0.999999]) {
      let clock = 1_000_000
      const job = { timestamp: clock, opts: { attempts } } as unknown as MinimalJob
      const strategy = webhookBackoffStrategy(base, { random: () => random, now: () => clock })
      const waits: number[] = []
      for (let failed = 1; failed < attempts; failed += 1) {
        const wait = strategy(failed, WEBHOOK_BACKOFF, undefined, job) as number
        waits.push(wait)
        clock += wait + 200 // each attempt takes a little time too
      }
      t.ok(
        sum(waits) >= DAY_MS,
        `random ${random}: the waits add up to ${(sum(waits) / 3_600_000).toFixed(2)} h`,
      )
      t.ok(
        waits.slice(0, -1).every((w, i) => w <= nominalWebhookDelay(i + 1, base) * 1.2 + 1),
        'only the last wait is ever stretched',
      )
    }
  },
)

t.test('job options per queue', async (t) => {
  t.match(jobOptionsFor('webhooks', config), { attempts: 20, backoff: { type: WEBHOOK_BACKOFF } })
  const deadlines = jobOptionsFor('deadlines', config)
  t.ok((deadlines.attempts ?? 0) > 1 && (deadlines.attempts ?? 0) <= 10, 'a few attempts')
  t.match(deadlines.backoff, { type: 'exponential' })
  t.ok((deadlines.backoff as { delay: number }).delay <= 5_000, 'short backoff')
  t.notOk('jobId' in deadlines, 'the relay sets the job id (the outbox id) itself')
})
