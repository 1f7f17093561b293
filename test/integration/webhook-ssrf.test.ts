import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import type { ClientRequest } from 'node:http'
import t from 'tap'
import type { DeliveryView } from '../../src/modules/deliveries/deliveries.service.js'
import { signReferral } from '../../src/sdk/documents.js'
import { addAgency, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { referralDocument } from '../helpers/referrals.js'
import { eventually, WebhookReceiver } from '../helpers/webhook-receiver.js'
import { startTestWorker } from '../helpers/worker.js'

/** Every HTTP request this process starts (the worker runs in it), to prove a refusal never connected. */
const started: string[] = []
const onRequest = (message: unknown) => {
  const request = (message as { request: ClientRequest }).request
  started.push(`${request.host}${request.path}`)
}
subscribe('http.client.request.start', onRequest)
t.teardown(() => unsubscribe('http.client.request.start', onRequest))

const submitTo = async (sender: TestAgency, recipient: TestAgency) => {
  const document = referralDocument(sender, { agencyId: recipient.id })
  await sender.client.request('POST', '/v1/referrals', {
    jws: await signReferral(document, sender.keys.signing),
  })
  return document.id
}

const failedDelivery = (agency: TestAgency) =>
  eventually(async () => {
    const page = await agency.client.request<{ items: DeliveryView[] }>('GET', '/v1/deliveries?status=failed')
    return page.items[0]
  }, 'the delivery to fail')

/** All that an agency reads about a refused target (GET /v1/deliveries `lastError`). */
const REFUSED = 'refused: the target is not allowed, or its name does not resolve'
/** What must not reach an agency: an address, what kind it is, or what a name resolved to. */
const REVEALING = /\d+\.\d+\.\d+\.\d+|::|private|loopback|link-local|cgnat|resolves/

t.test(
  'private, link-local, CGNAT and IPv6 special-purpose addresses are refused before any connection',
  async (t) => {
    const { app } = await buildTestApp(t, { WEBHOOK_BACKOFF_MS: '20', WEBHOOK_MAX_ATTEMPTS: '2' })
    const ro = await addAgency(app, { country: 'RO' })
    const targets = [
      'https://10.0.0.1/hooks',
      'https://169.254.169.254/latest/meta-data',
      'https://100.64.1.1/hooks',
      'https://[fd00::1]/hooks',
      // IPv6 spellings that carry an IPv4 address, and transition ranges: each passed as public before.
      'https://[::127.0.0.1]/hooks',
      'https://[::ffff:0:a00:1]/hooks',
      'https://[64:ff9b:1::a00:1]/hooks',
      'https://[2001:0:a00:1::1]/hooks',
      'https://[2002:808:808::1]/hooks',
    ]
    const agencies = []
    for (const url of targets) agencies.push(await addAgency(app, { country: 'DE', push: url }))
    const worker = await startTestWorker(t, app.config, app.hubKeys)
    started.length = 0
    for (const agency of agencies) await submitTo(ro, agency)
    for (const [i, agency] of agencies.entries()) {
      const failed = await failedDelivery(agency)
      t.match(failed, { status: 'failed', attempts: 2, lastError: REFUSED }, targets[i]!)
    }
    t.same(started, [], 'no HTTP request was started')
    // The operator's log says which kind of range refused it, never the address.
    const refusals = worker.logs.lines.filter((line) => line.includes('webhook: target refused'))
    t.ok(
      refusals.some((line) => line.includes('"range":"linkLocal"')),
      'the log names the range',
    )
    for (const line of refusals) t.notMatch(line, /10\.0\.0\.1|169\.254|100\.64|fd00|::/, line)
  },
)

t.test(
  'with allowLoopback off, loopback is refused too (by address and by name), without saying what a name resolves to',
  async (t) => {
    const { app } = await buildTestApp(t, {
      WEBHOOK_ALLOW_LOOPBACK: 'false',
      WEBHOOK_BACKOFF_MS: '20',
      WEBHOOK_MAX_ATTEMPTS: '2',
    })
    const receiver = new WebhookReceiver(() => 200)
    await receiver.start()
    t.teardown(() => receiver.close())
    const ro = await addAgency(app, { country: 'RO' })
    // https passes the registration rule; the delivery-time address check is what stops it.
    const byAddress = await addAgency(app, {
      country: 'DE',
      push: `https://127.0.0.1:${receiver.port}/hooks`,
    })
    const byName = await addAgency(app, { country: 'FR', push: `https://localhost:${receiver.port}/hooks` })
    const byMapped = await addAgency(app, {
      country: 'IT',
      push: `https://[::ffff:127.0.0.1]:${receiver.port}/hooks`,
    })
    await startTestWorker(t, app.config, app.hubKeys)
    started.length = 0
    for (const agency of [byAddress, byName, byMapped]) await submitTo(ro, agency)
    for (const agency of [byAddress, byName, byMapped]) {
      const failed = await failedDelivery(agency)
      t.equal(failed?.lastError, REFUSED)
      t.notMatch(failed?.lastError, REVEALING)
    }
    t.equal(receiver.connections, 0, 'the receiver saw no connection')
    t.same(started, [], 'no HTTP request was started')
  },
)

t.test('a connection that fails does not tell the agency the address it went to', async (t) => {
  const { app } = await buildTestApp(t, { WEBHOOK_BACKOFF_MS: '20', WEBHOOK_MAX_ATTEMPTS: '2' })
  const ro = await addAgency(app, { country: 'RO' })
  // Nothing listens on the discard port: the connection is refused at the address localhost names.
  const de = await addAgency(app, { country: 'DE', push: 'http://localhost:9/hooks' })
  await startTestWorker(t, app.config, app.hubKeys)
  await submitTo(ro, de)
  const failed = await failedDelivery(de)
  t.match(failed, { attempts: 2, lastError: /ECONNREFUSED/ })
  t.notMatch(failed?.lastError, REVEALING)
})

t.test('redirects are not followed and count as failures', async (t) => {
  const { app } = await buildTestApp(t, { WEBHOOK_BACKOFF_MS: '20', WEBHOOK_MAX_ATTEMPTS: '2' })
  const target = new WebhookReceiver(() => 200)
  await target.start()
  const redirecting = new WebhookReceiver(() => ({ status: 307, headers: { location: target.url } }))
  await redirecting.start()
  t.teardown(() => Promise.all([target.close(), redirecting.close()]))
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', push: redirecting.url })
  await startTestWorker(t, app.config, app.hubKeys)
  await submitTo(ro, de)
  t.match(await failedDelivery(de), { attempts: 2, lastError: 'HTTP 307: redirects are not followed' })
  t.equal(target.received.length, 0)
})
