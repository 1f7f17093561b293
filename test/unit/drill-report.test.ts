import t from 'tap'
import { type DrillInput, drillFigures } from '../../bench/lib/drill-report.js'

/** Three referrals, all answered 201, stored and delivered once, no fault: the drill passes. */
function input(overrides: Partial<DrillInput> = {}): DrillInput {
  const outcome = (final: string) => ({ final, attempts: 1, due: 0, end: 1 })
  return {
    options: {
      count: 3,
      rate: 1,
      pgStopSeconds: 10,
      spacing: 1,
      restartAfter: 2,
      faults: [],
      giveUp: 180,
      drainSeconds: 180,
      redisAof: false,
    },
    t0: 0,
    submissions: [{ referralId: 'a' }, { referralId: 'b' }, { referralId: 'c' }],
    outcomes: [outcome('201'), outcome('201'), outcome('200')],
    attempts: [],
    stored: new Set(['a', 'b', 'c']),
    arrivals: [
      { pull: true, copies: 1 },
      { pull: false, copies: 1 },
      { pull: true, copies: 1 },
    ],
    waitedSeconds: 0,
    recipientCounts: {},
    faults: [],
    deaths: [],
    servicesDied: [],
    unsealed: 0,
    timers: { written: 3, inRedis: 3 },
    audit: { code: 0, output: 'audit chain intact' },
    commit: 'test',
    ...overrides,
  }
}

t.test('everything accepted, stored and delivered once passes', async (t) => {
  const f = drillFigures(input())
  t.same(
    { created: f.created, replayed: f.replayed, lost: f.lost.total, extra: f.extra, failed: f.failed },
    { created: 2, replayed: 1, lost: 0, extra: 0, failed: false },
  )
  t.same(f.delivered, { unique: 3, pull: 2, push: 1, duplicates: 0, waitedSeconds: 0 })
})

t.test('a 2xx that is not stored, and a stored referral never delivered, are lost', async (t) => {
  const f = drillFigures(
    input({
      stored: new Set(['b', 'c']),
      arrivals: [
        { pull: true, copies: 0 },
        { pull: false, copies: 0 },
        { pull: true, copies: 2 },
      ],
    }),
  )
  t.same(f.lost, { total: 2, acceptedNotStored: 1, storedNotDelivered: 1 })
  t.equal(f.delivered.duplicates, 1)
  t.same(f.reasons, ['referrals lost'])
})

t.test('a referral stored after the client gave up is extra; a refusal fails the drill', async (t) => {
  const f = drillFigures(
    input({
      outcomes: [
        { final: 'gave up', attempts: 9, due: 0, end: 1 },
        { final: '422', attempts: 1, due: 0, end: 1, refusal: '{"code":"TRM_X"}' },
        { final: '201', attempts: 1, due: 0, end: 1 },
      ],
      stored: new Set(['a', 'c']),
      arrivals: [
        { pull: true, copies: 1 },
        { pull: false, copies: 0 },
        { pull: true, copies: 1 },
      ],
    }),
  )
  t.same(
    { extra: f.extra, gaveUp: f.gaveUp, refused: f.refused, lost: f.lost.total },
    {
      extra: 1,
      gaveUp: 1,
      refused: 1,
      lost: 0,
    },
  )
  t.same(f.refusals, ['422 {"code":"TRM_X"}'])
  t.same(f.reasons, ['referrals stored without a 2xx', 'referrals refused'])
})

t.test('a death, an unsealed event or a broken chain fails the drill; missing timers do not', async (t) => {
  const death = { name: 'api-1', at: 5000, code: 1, signal: null, tail: 'boom' }
  const f = drillFigures(
    input({
      deaths: [death],
      unsealed: 2,
      audit: { code: 1, output: 'broken' },
      timers: { written: 3, inRedis: 1 },
    }),
  )
  t.same(f.reasons, [
    'hub processes died on their own',
    'audit events left unsealed',
    'trm audit verify failed',
  ])
  t.same(f.deaths, [{ name: 'api-1', atSeconds: 5, code: 1, signal: null, tail: 'boom' }])
  t.equal(f.deadlineTimers.missing, 2)
  t.equal(drillFigures(input({ timers: { written: 3, inRedis: 0 } })).failed, false)
})

t.test(
  'answers while Postgres was stopped and starting, and the first 201 and ready 200 after the start',
  async (t) => {
    const attempt = (end: number, status: string) => ({ index: 0, target: 0, sent: end - 1, end, status })
    const ready = (api: number, at: number, status: number, summary: string) => ({ api, at, status, summary })
    const f = drillFigures(
      input({
        attempts: [
          attempt(500, '201'), // before the stop
          attempt(1500, '503'),
          attempt(1600, '500'),
          attempt(1700, '503'),
          attempt(2500, 'ECONNREFUSED'), // starting
          attempt(3400, '201'),
        ],
        faults: [
          {
            name: 'postgres',
            what: 'pg_ctl stop',
            at: 1000,
            back: 3000,
            postgres: {
              stoppedAt: 1200,
              startAt: 2000,
              ready: [
                ready(0, 1300, 503, '503 postgres=unavailable redis=ok'),
                ready(1, 1300, 0, 'ECONNREFUSED'),
                ready(0, 2100, 200, '200 postgres=ok redis=ok'),
                ready(1, 3900, 200, '200 postgres=ok redis=ok'),
              ],
            },
          },
        ],
      }),
    )
    t.same(f.postgres?.whileStopped, {
      postAnswers: { '503': 2, '500': 1 },
      ready: [{ '503 postgres=unavailable redis=ok': 1 }, { ECONNREFUSED: 1 }],
    })
    t.same(f.postgres?.whileStarting, {
      postAnswers: { ECONNREFUSED: 1 },
      ready: [{ '200 postgres=ok redis=ok': 1 }, {}],
    })
    t.equal(f.postgres?.firstCreatedAfterStartMs, 1400)
    t.same(f.postgres?.firstReadyAfterStartMs, [100, 1900])
  },
)
