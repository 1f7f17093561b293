import { sql } from 'kysely'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { newId } from '../../src/lib/ids.js'
import { appendInboxMessage } from '../../src/modules/ledger/inbox.repository.js'
import { signReferral } from '../../src/sdk/documents.js'
import { HubClient } from '../../src/sdk/hub-client.js'
import { addAgency, injectFetch, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp, LogCapture } from '../helpers/build-app.js'
import { adminClient, holdTable, postgresProxy, terminate } from '../helpers/postgres.js'
import { referralDocument } from '../helpers/referrals.js'
import { eventually } from '../helpers/webhook-receiver.js'

type Json = Record<string, any>

const submission = async (from: TestAgency, to: TestAgency) => ({
  jws: await signReferral(referralDocument(from, { agencyId: to.id }), from.keys.signing),
})

t.test('a connection ended in the middle of a statement fails that statement only', async (t) => {
  const { app } = await buildTestApp(t)
  const admin = await adminClient(t)
  const marker = `/* ${app.config.databaseSchema} */`
  const sleeping = sql`select pg_sleep(30) ${sql.raw(marker)}`.execute(app.db).then(
    () => undefined,
    (e: unknown) => e as { code?: string },
  )
  await eventually(
    async () =>
      (await terminate(admin, 'trm-hub-api', { query: `%pg_sleep(30) ${marker}%` })) > 0 || undefined,
    'the sleeping statement to be ended',
  )
  const error = await sleeping
  t.equal(error?.code, '57P01', 'the statement fails with admin_shutdown')
  // The process is still here (an unheard `error` event would have ended it), and the pool lends a
  // working connection next, not the broken one.
  const { rows } = await sql<{ one: number }>`select 1 as one`.execute(app.db)
  t.same(rows, [{ one: 1 }], 'the next statement works')
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 200)
})

t.test('a request whose connection is ended answers 503 and the same request then succeeds', async (t) => {
  const { app } = await buildTestApp(t)
  const admin = await adminClient(t)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE' })
  const token = await ro.client.accessToken()
  const body = await submission(ro, de)

  // Hold the referral's statement on a table lock, end its session while it waits, then let go.
  const inboxTable = `"${app.config.databaseSchema}".inbox_messages`
  const inbox = await holdTable(t, inboxTable)
  const answer = app.inject({
    method: 'POST',
    url: '/v1/referrals',
    headers: { authorization: `Bearer ${token}` },
    payload: body,
  })
  await eventually(
    async () => (await terminate(admin, 'trm-hub-api', { waitingFor: inboxTable })) > 0 || undefined,
    'the waiting referral statement to be ended',
  )
  await inbox.release()
  const refused = await answer
  t.equal(refused.statusCode, 503, 'unavailable, not an internal error')
  t.equal(refused.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.match(refused.json(), { code: 'TRM_UNAVAILABLE', status: 503, detail: /nothing was stored/ })
  t.ok(Number(refused.headers['retry-after']) > 0, 'with Retry-After')

  const again = await app.inject({
    method: 'POST',
    url: '/v1/referrals',
    headers: { authorization: `Bearer ${token}` },
    payload: body,
  })
  t.equal(again.statusCode, 201, 'the same request is stored once Postgres answers')
})

t.test('while Postgres is unreachable the API answers 503, and recovers by itself', async (t) => {
  const { proxy, port, url } = await postgresProxy(t)
  const { app } = await buildTestApp(t, { DATABASE_URL: url })
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE' })
  const token = await ro.client.accessToken()
  const post = async () =>
    app.inject({
      method: 'POST',
      url: '/v1/referrals',
      headers: { authorization: `Bearer ${token}` },
      payload: await submission(ro, de),
    })

  await proxy.stop()
  const refused = await post()
  t.equal(refused.statusCode, 503, 'a referral is refused with 503')
  t.match(refused.json(), { code: 'TRM_UNAVAILABLE' })
  t.ok(Number(refused.headers['retry-after']) > 0, 'with Retry-After')
  const unready = await app.inject('/health/ready')
  t.equal(unready.statusCode, 503, 'not ready')
  t.match(unready.json(), { status: 'unavailable', checks: { postgres: 'unavailable' } })
  t.equal((await app.inject('/health/live')).statusCode, 200, 'still live')
  const read = await app.inject({ url: '/v1/referrals', headers: { authorization: `Bearer ${token}` } })
  t.not(read.statusCode, 500, `a read is not a 500 either (${read.statusCode})`)

  await proxy.start(port)
  const ready = await eventually(async () => {
    const response = await app.inject('/health/ready')
    return response.statusCode === 200 ? response : undefined
  }, 'ready again')
  t.match(ready.json(), { status: 'ok' })
  t.equal((await post()).statusCode, 201, 'referrals are stored again, without a restart')
})

t.test('long-polls are woken again after the listening connection is lost', async (t) => {
  const { app } = await buildTestApp(t)
  const admin = await adminClient(t)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE' })
  await eventually(async () => app.inboxWakeups.listening || undefined, 'the listener to listen')

  const poll = de.client.request<{ items: Json[] }>('GET', '/v1/inbox?wait=30')
  await eventually(async () => app.inboxWakeups.waiting === 1 || undefined, 'the long-poll to wait')
  const listening = { query: `listen "trm_inbox_${app.config.databaseSchema}"` }
  t.equal(await terminate(admin, 'trm-hub-inbox-listener', listening), 1, 'the listening session is ended')
  await eventually(async () => !app.inboxWakeups.listening || undefined, 'the loss to be noticed')
  await eventually(async () => app.inboxWakeups.listening || undefined, 'the listener to come back')

  const { jws } = await submission(ro, de)
  const stored = await ro.client.request<{ id: string }>('POST', '/v1/referrals', { jws })
  // A long-poll left deaf would sleep its 30 s and answer empty.
  const got = await poll
  t.match(got.items, [{ type: 'referral', referralId: stored.id }], 'the referral wakes the long-poll')
})

t.test('a message committed while the listener was away is read as soon as it is back', async (t) => {
  const { proxy, port, url } = await postgresProxy(t)
  const { app, config } = await buildTestApp(t)
  // The hub process under test reaches Postgres through the proxy; the test writes directly.
  const hub = await buildApp(
    { ...config, databaseUrl: url },
    { hubKeys: app.hubKeys, logStream: new LogCapture() },
  )
  t.teardown(() => hub.close())
  const de = await addAgency(app, { country: 'DE' })
  const deOnHub = new HubClient({
    baseUrl: config.publicUrl,
    agencyId: de.id,
    signingKey: de.keys.signing,
    fetch: injectFetch(hub),
  })
  await deOnHub.accessToken()
  await eventually(async () => hub.inboxWakeups.listening || undefined, 'the listener to listen')
  const poll = deOnHub.request<{ items: Json[] }>('GET', '/v1/inbox?wait=30')
  await eventually(async () => hub.inboxWakeups.waiting === 1 || undefined, 'the long-poll to wait')

  await proxy.stop()
  await eventually(async () => !hub.inboxWakeups.listening || undefined, 'the listener to be cut off')
  // Committed (and notified) while the hub hears nothing.
  const messageId = newId()
  await appendInboxMessage(app.db, {
    id: messageId,
    agencyId: de.id,
    type: 'status',
    referralId: newId(),
    body: { note: 'fictional' },
  })
  await sql`select pg_notify(${`trm_inbox_${config.databaseSchema}`}, ${de.id})`.execute(app.db)
  await proxy.start(port)

  const got = await poll
  t.match(got.items, [{ id: messageId }], 'the long-poll reads it once the listener is back')
  t.ok(hub.inboxWakeups.listening, 'listening again')
})
