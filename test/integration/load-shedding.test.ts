import t from 'tap'
import { listenMetrics } from '../../src/lib/metrics-listener.js'
import { signReferral } from '../../src/sdk/documents.js'
import { addAgency, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { holdTable } from '../helpers/postgres.js'
import { referralDocument } from '../helpers/referrals.js'
import { eventually } from '../helpers/webhook-receiver.js'

async function signed(from: TestAgency, to: TestAgency) {
  const document = referralDocument(from, { agencyId: to.id })
  return { id: document.id, jws: await signReferral(document, from.keys.signing) }
}

t.test(
  'beyond the bound on waiting submissions, a referral gets 503 at once and is not written',
  async (t) => {
    // One statement at a time and two submissions waiting at most.
    const { app, config } = await buildTestApp(t, {
      DATABASE_POOL_MAX: '2',
      SUBMISSION_STATEMENTS_MAX: '1',
      SUBMISSION_QUEUE_MAX: '2',
    })
    const ro = await addAgency(app, { country: 'RO' })
    const de = await addAgency(app, { country: 'DE' })
    const token = await ro.client.accessToken()
    const post = async (jws: string) =>
      app.inject({
        method: 'POST',
        url: '/v1/referrals',
        headers: { authorization: `Bearer ${token}` },
        payload: { jws },
      })
    const inbox = await holdTable(t, `"${config.databaseSchema}".inbox_messages`)
    const settled: string[] = []
    const track = (name: string, answer: ReturnType<typeof post>) =>
      answer.then((response) => {
        settled.push(name)
        return response
      })

    const first = await signed(ro, de)
    const inStatement = track('in statement', post(first.jws))
    await eventually(async () => (await inbox.waiters()) > 0 || undefined, 'the first statement to wait')
    const queued = await Promise.all([signed(ro, de), signed(ro, de)])
    const waiting = queued.map((q, i) => track(`waiting ${i}`, post(q.jws)))
    await eventually(async () => app.submissions.waiting === 2 || undefined, 'two submissions to wait')

    const over = await signed(ro, de)
    const shed = await post(over.jws)
    t.same(settled, [], 'answered while the others still wait')
    t.equal(shed.statusCode, 503)
    t.match(shed.json(), { code: 'TRM_OVERLOADED', status: 503 })
    t.equal(shed.headers['content-type'], 'application/problem+json; charset=utf-8')
    t.ok(Number(shed.headers['retry-after']) > 0, 'with Retry-After')

    await inbox.release()
    const answers = await Promise.all([inStatement, ...waiting])
    t.same(
      answers.map((a) => a.statusCode),
      [201, 201, 201],
      'the ones taken are written',
    )
    const stored = await app.db.selectFrom('referrals').select('id').execute()
    t.same(
      stored.map((r) => r.id).sort(),
      [first.id, ...queued.map((q) => q.id)].sort(),
      'the shed referral was not written',
    )
  },
)

t.test('a submission whose client has gone before its statement starts is not written', async (t) => {
  const { app, config } = await buildTestApp(t, { DATABASE_POOL_MAX: '2', SUBMISSION_STATEMENTS_MAX: '1' })
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE' })
  const token = await ro.client.accessToken()
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  const post = (jws: string, signal?: AbortSignal) =>
    fetch(`${address}/v1/referrals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jws }),
      ...(signal ? { signal } : {}),
    })
  const inbox = await holdTable(t, `"${config.databaseSchema}".inbox_messages`)

  const first = await signed(ro, de)
  const inStatement = post(first.jws)
  await eventually(async () => (await inbox.waiters()) > 0 || undefined, 'the first statement to wait')
  const leaving = await signed(ro, de)
  const client = new AbortController()
  const abandoned = post(leaving.jws, client.signal).catch((error: Error) => error.name)
  await eventually(async () => app.submissions.waiting === 1 || undefined, 'the second to wait')
  client.abort()
  t.equal(await abandoned, 'AbortError', 'the client hung up')
  await eventually(async () => app.submissions.waiting === 0 || undefined, 'its place to be given up')

  await inbox.release()
  t.equal((await inStatement).status, 201)
  const stored = await app.db.selectFrom('referrals').select('id').execute()
  t.same(
    stored.map((r) => r.id),
    [first.id],
    'only the referral whose client waited is written',
  )
})

t.test(
  'an overloaded process answers 503 problems, but liveness, readiness and metrics answer',
  async (t) => {
    // A heap bound of one byte: overloaded from the first sample on.
    const { app } = await buildTestApp(t, { OVERLOAD_MAX_HEAP_USED_BYTES: '1' })
    const ro = await addAgency(app, { country: 'RO' })
    const de = await addAgency(app, { country: 'DE' })
    const { jws } = await signed(ro, de)
    const shed = await eventually(
      async () => {
        const response = await app.inject({ method: 'POST', url: '/v1/referrals', payload: { jws } })
        return response.statusCode === 503 ? response : undefined
      },
      'the first pressure sample',
      10_000,
      100,
    )
    t.match(shed.json(), { code: 'TRM_OVERLOADED', status: 503 }, 'before authentication costs anything')
    t.ok(Number(shed.headers['retry-after']) > 0, 'with Retry-After')
    t.equal((await app.inject('/health/live')).statusCode, 200, 'still live')
    const ready = await app.inject('/health/ready')
    t.equal(ready.statusCode, 503, 'not ready for the load balancer')
    t.match(ready.json(), { status: 'unavailable', checks: { postgres: 'ok', process: 'overloaded' } })
    const metrics = await listenMetrics(() => app.metrics(), { host: '127.0.0.1', port: 0 })
    t.teardown(() => metrics.close())
    t.equal((await fetch(metrics.url)).status, 200, 'metrics still served (on their own listener)')
    const stored = await app.db.selectFrom('referrals').select('id').execute()
    t.same(stored, [], 'nothing written')
  },
)
