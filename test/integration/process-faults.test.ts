import t from 'tap'
import { signReferral } from '../../src/sdk/documents.js'
import type { HubRequestError } from '../../src/sdk/hub-client.js'
import { addAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { holdTable, postgresProxy } from '../helpers/postgres.js'
import { clientAt, startApiProcess, startHubProcess } from '../helpers/processes.js'
import { referralDocument } from '../helpers/referrals.js'
import { freePort } from '../helpers/tcp-proxy.js'
import { eventually } from '../helpers/webhook-receiver.js'

t.test('SIGTERM with ten long-polls open: each is answered, and the API exits 0', async (t) => {
  const { app, config } = await buildTestApp(t)
  const agencies = await Promise.all(
    Array.from({ length: 10 }, (_, i) => addAgency(app, { country: i % 2 ? 'DE' : 'RO' })),
  )
  const api = await startApiProcess(t, config, await freePort())
  const clients = agencies.map((agency) => clientAt(api.url, agency))
  await Promise.all(clients.map((client) => client.accessToken()))

  const polls = clients.map((client) =>
    client.request<{ items: unknown[] }>('GET', '/v1/inbox?wait=30').then(
      (page) => ({ answered: true as const, page }),
      (error: unknown) => ({ answered: false as const, error }),
    ),
  )
  await eventually(
    async () => {
      const metrics = await fetch(api.metricsUrl).then((r) => r.text())
      return /^trm_inbox_long_polls_waiting 10$/m.test(metrics) || undefined
    },
    'ten long-polls to wait',
    30_000,
    50,
  )
  t.equal((await fetch(`${api.url}/metrics`)).status, 404, 'metrics are not on the public port')
  t.match(api.output(), /"msg":"metrics listening"/, 'but on a listener of their own')
  api.child.kill('SIGTERM')
  // Each long-poll waits 30 s, three times the process's 10 s grace: had they not been answered at
  // once, close-with-grace would end the process with exit status 1.
  const answers = await Promise.all(polls)
  t.same(
    answers.map((a) => a.answered),
    Array(10).fill(true),
    'every long-poll got an answer, not a reset connection',
  )
  t.same(
    answers.map((a) => (a.answered ? a.page.items : undefined)),
    Array(10).fill([]),
    'with what it had: nothing',
  )
  t.same(await api.exited, { code: 0, signal: null }, 'exit status 0')
  t.notMatch(api.output(), /killed by timeout/)
})

t.test('the API process keeps serving when Postgres goes away mid-statement, and recovers', async (t) => {
  const { app, config } = await buildTestApp(t)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE' })
  const database = await postgresProxy(t)
  const api = await startApiProcess(t, { ...config, databaseUrl: database.url }, await freePort())
  const client = clientAt(api.url, ro)
  await client.accessToken()
  const submit = async () =>
    client
      .request('POST', '/v1/referrals', {
        jws: await signReferral(referralDocument(ro, { agencyId: de.id }), ro.keys.signing),
      })
      .then(
        () => 201,
        (error: HubRequestError) => error.status,
      )

  // A referral's statement waits on a table lock; Postgres goes away under it.
  const inbox = await holdTable(t, `"${config.databaseSchema}".inbox_messages`)
  const waiting = submit()
  await eventually(async () => (await inbox.waiters()) > 0 || undefined, 'the statement to wait')
  await database.proxy.stop()
  t.equal(await waiting, 503, 'the statement that lost its connection answers 503')
  await inbox.release()
  t.equal(await submit(), 503, 'a new referral too, while Postgres is away')
  const unready = await fetch(`${api.url}/health/ready`)
  t.equal(unready.status, 503, 'not ready')
  t.equal(api.child.exitCode, null, 'the process is still running')

  await database.proxy.start(database.port)
  await eventually(
    async () => (await fetch(`${api.url}/health/ready`)).status === 200 || undefined,
    'ready again',
  )
  t.equal(await submit(), 201, 'referrals are stored again, without a restart')
  t.notMatch(api.output(), /closing after error|uncaught/i, 'no crash on the way')
  api.child.kill('SIGTERM')
  t.same(await api.exited, { code: 0, signal: null })
})

t.test('the worker process keeps running when Postgres goes away mid-statement, and recovers', async (t) => {
  const { app, config } = await buildTestApp(t)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE' })
  const database = await postgresProxy(t)
  const worker = startHubProcess(t, 'src/worker.ts', { ...config, databaseUrl: database.url })
  await eventually(
    async () => /outbox relay: active/.test(worker.output()) || undefined,
    'the relay to lead',
    60_000,
  )

  // The relay's sweep waits on the outbox; Postgres goes away under it.
  const outbox = await holdTable(t, `"${config.databaseSchema}".outbox`)
  await eventually(async () => (await outbox.waiters()) > 0 || undefined, 'the relay to wait')
  await database.proxy.stop()
  await outbox.release()
  await eventually(
    async () => /outbox relay: (batch failed|cannot take the lead)/.test(worker.output()) || undefined,
    'the worker to notice',
  )
  t.equal(worker.child.exitCode, null, 'the worker is still running')

  await database.proxy.start(database.port)
  await ro.client.request('POST', '/v1/referrals', {
    jws: await signReferral(referralDocument(ro, { agencyId: de.id }), ro.keys.signing),
  })
  await eventually(
    async () => {
      const pending = await app.db.selectFrom('outbox').select('id').where('relayed_at', 'is', null).execute()
      return pending.length === 0 || undefined
    },
    'the outbox to be relayed after Postgres is back',
    30_000,
  )
  t.notMatch(worker.output(), /closing after error|uncaught/i, 'no crash on the way')
  worker.child.kill('SIGTERM')
  t.same(await worker.exited, { code: 0, signal: null })
})
