import type { FastifyInstance } from 'fastify'
import { compactVerify, decodeProtectedHeader, importJWK, type JWK } from 'jose'
import t, { type Test } from 'tap'
import type { EvidenceEvent } from '../../src/lib/evidence.js'
import { deliveredMove } from '../../src/modules/acknowledgements/delivered.js'
import { escalateIfOverdue } from '../../src/modules/deadlines/deadlines.service.js'
import { signEvidence } from '../../src/modules/evidence/evidence.service.js'
import { inboxCursor } from '../../src/modules/inbox/inbox.core.js'
import { confirmThrough, findConfirmationEvidence } from '../../src/modules/inbox/inbox.repository.js'
import type { SubmissionResult } from '../../src/modules/referrals/referrals.service.js'
import { signReferral, verifyReceipt } from '../../src/sdk/documents.js'
import { HubRequestError } from '../../src/sdk/hub-client.js'
import { verifyEvidence } from '../../src/sdk/index.js'
import { addAgency, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { holdHorizon, inboxUntil, referralMessage } from '../helpers/inbox.js'
import { referralDocument } from '../helpers/referrals.js'
import { eventually, receiverFor } from '../helpers/webhook-receiver.js'
import { startTestWorker } from '../helpers/worker.js'

type EvidenceItem = { event: EvidenceEvent; at: string; recipient: string; jws: string }

/** Two attempts a few milliseconds apart: a delivery fails quickly, and nothing waits on time. */
const FAST = { WEBHOOK_BACKOFF_MS: '20', WEBHOOK_MAX_ATTEMPTS: '2' }

async function hubJwks(app: FastifyInstance): Promise<{ keys: JWK[] }> {
  return (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
}

async function submit(sender: TestAgency, recipient: TestAgency) {
  const document = referralDocument(sender, { agencyId: recipient.id })
  const answer = await sender.client.request<SubmissionResult>('POST', '/v1/referrals', {
    jws: await signReferral(document, sender.keys.signing),
  })
  return { id: document.id, answer }
}

const deps = (app: FastifyInstance) => ({ hubKeys: app.hubKeys, config: app.config })

const listEvidence = (agency: TestAgency, referralId: string) =>
  agency.client
    .request<{ items: EvidenceItem[] }>('GET', `/v1/referrals/${referralId}/evidence`)
    .then((page) => page.items)

const stored = (app: FastifyInstance, referralId: string) =>
  app.db.selectFrom('evidence').selectAll().where('referral_id', '=', referralId).orderBy('event').execute()

const issuedEvents = (app: FastifyInstance, referralId: string) =>
  app.db
    .selectFrom('audit_events')
    .select(['actor', 'details'])
    .where('referral_id', '=', referralId)
    .where('action', '=', 'evidence.issued')
    .orderBy('id')
    .execute()

/**
 * Checks one piece of evidence twice, with the SDK and with jose directly, against the hub JWKS, and
 * that it speaks of this referral, its recipient and its receipt's digest.
 */
async function checkEvidence(
  t: Test,
  app: FastifyInstance,
  jws: string,
  expected: { referralId: string; event: EvidenceEvent; recipient: string; receipt: string },
) {
  const jwks = await hubJwks(app)
  const receipt = await verifyReceipt(expected.receipt, jwks)
  const claims = await verifyEvidence(jws, jwks)
  t.match(claims, {
    referralId: expected.referralId,
    event: expected.event,
    recipient: expected.recipient,
    payloadSha256: receipt.payloadSha256,
  })
  t.same(Object.keys(claims), ['referralId', 'event', 'at', 'recipient', 'payloadSha256'])
  const header = decodeProtectedHeader(jws)
  t.match(header, { alg: 'EdDSA', typ: 'trm-evidence+jws', kid: app.hubKeys.current.kid })
  const key = jwks.keys.find((k) => k.kid === header.kid)!
  const { payload } = await compactVerify(jws, await importJWK(key, 'EdDSA'), { algorithms: ['EdDSA'] })
  t.same(JSON.parse(new TextDecoder().decode(payload)), claims, 'jose reads the same claims')
  // Not a receipt, and not anything else the hub signs.
  await t.rejects(verifyEvidence(expected.receipt, jwks), /not TRM evidence/)
}

/** The sender's `evidence` inbox messages for a referral, by event. */
async function evidenceMessages(sender: TestAgency, referralId: string, count: number) {
  const items = await inboxUntil(
    sender,
    (all) => all.filter((i) => i['type'] === 'evidence' && i['referralId'] === referralId).length >= count,
  )
  return items.filter((i) => i['type'] === 'evidence' && i['referralId'] === referralId)
}

t.test('delivery (inbox) and retrieval evidence, each once; who may list it', async (t) => {
  const { app } = await buildTestApp(t)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE' })
  const other = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
  const { id, answer } = await submit(ro, de)
  t.same(await listEvidence(ro, id), [], 'none before anything happened')

  const inbox = await inboxUntil(de, (items) => items.some((i) => i['referralId'] === id))
  const through = inbox.at(-1)!['cursor'] as string
  t.match(await de.client.request('POST', '/v1/inbox/confirm', { through }), { confirmed: 1 })
  t.match(await de.client.request('POST', '/v1/inbox/confirm', { through }), { confirmed: 0 })
  await de.client.request('GET', `/v1/referrals/${id}`)
  await de.client.request('GET', `/v1/referrals/${id}`)
  await ro.client.request('GET', `/v1/referrals/${id}`) // the sender's read is no retrieval

  const items = await listEvidence(ro, id)
  t.same(
    items.map((i) => i.event),
    ['delivery', 'retrieval'],
    'one delivery, one retrieval, in that order',
  )
  const expected = { referralId: id, recipient: de.id, receipt: answer['receipt'] as string }
  for (const item of items) {
    t.equal(item.recipient, de.id)
    await checkEvidence(t, app, item.jws, { ...expected, event: item.event })
  }
  t.equal((await stored(app, id)).length, 2)

  const messages = await evidenceMessages(ro, id, 2)
  t.same(
    messages.map((m) => m['body']),
    items.map((i) => ({ event: i.event, evidence: i.jws })),
    "each is in the sender's inbox once, carrying the JWS",
  )
  t.same(
    (await inboxUntil(de, () => true)).filter((i) => i['type'] === 'evidence'),
    [],
    'the recipient gets none',
  )
  t.match(await issuedEvents(app, id), [
    { actor: 'system', details: { event: 'delivery', recipient: de.id } },
    { actor: 'system', details: { event: 'retrieval', recipient: de.id } },
  ])
  t.equal((await issuedEvents(app, id)).length, 2, 'audited once each')

  t.same(await listEvidence(de, id), items, 'the recipient may list it too')
  const refused = await listEvidence(other, id).catch((error: unknown) => error)
  t.ok(refused instanceof HubRequestError && refused.status === 404, 'anyone else: 404')
  const missing = await listEvidence(ro, '01940000-0000-7000-8000-00000000dead').catch((e: unknown) => e)
  t.ok(missing instanceof HubRequestError && missing.status === 404, 'no such referral: the same 404')
})

t.test(
  'a confirmation stores evidence for every referral it confirms, and confirms none it did not read',
  async (t) => {
    const { app } = await buildTestApp(t)
    const ro = await addAgency(app, { country: 'RO' })
    const de = await addAgency(app, { country: 'DE' })
    const messageOf = (referralId: string) => referralMessage(app, referralId, de.id)
    const first = await submit(ro, de)
    await inboxUntil(de, (items) => items.some((i) => i['referralId'] === first.id))
    // confirmInbox's steps one at a time, with a referral committed between the read that signs the
    // evidence and the statement that stores it, and a cursor far past both (no read ever gives one
    // like it; a client could make it up).
    const farAhead = { txid: '9000000000000000000', seq: 2147483647 }
    const read = await findConfirmationEvidence(app.db, de.id, farAhead)
    t.same(
      read.targets.map((target) => target.id),
      [first.id],
      'the read finds the referral waiting for its evidence',
    )
    const evidence = await signEvidence(deps(app), 'delivery', read.targets)
    const second = await submit(ro, de)
    const done = await confirmThrough(
      app.db,
      {
        agencyId: de.id,
        through: farAhead,
        snapshot: read.snapshot,
        cursor: inboxCursor(farAhead.txid, farAhead.seq),
        requestId: 'test-confirm-snapshot',
        evidence,
      },
      deliveredMove('inbox'),
    )
    t.equal(done.confirmed, 1, 'only what the read could see is confirmed')
    t.ok((await messageOf(first.id)).confirmed_at)
    t.same(
      done.evidence.map((row) => row.referral_id),
      [first.id],
    )
    t.same(
      (await stored(app, first.id)).map((row) => row.event),
      ['delivery'],
    )
    t.notOk(
      (await messageOf(second.id)).confirmed_at,
      'the referral committed after the read is not confirmed',
    )
    t.same(await stored(app, second.id), [], 'nor has evidence')
    // Read and confirmed through the API, it is confirmed with its evidence.
    const items = await inboxUntil(de, (all) => all.some((i) => i['referralId'] === second.id))
    const through = items.at(-1)!['cursor'] as string
    t.match(await de.client.request('POST', '/v1/inbox/confirm', { through }), { confirmed: 1 })
    t.same(
      (await stored(app, second.id)).map((row) => row.event),
      ['delivery'],
      'each confirmed referral has its delivery evidence',
    )
  },
)

t.test(
  'a cursor handed out ahead of the read horizon (as a webhook carries it) confirms its message',
  async (t) => {
    const { app } = await buildTestApp(t)
    const ro = await addAgency(app, { country: 'RO' })
    const de = await addAgency(app, { country: 'DE' })
    // An unrelated transaction holds a transaction id, and so the horizon below which reads return
    // messages; a webhook's body carries its message's cursor all the same.
    const older = await holdHorizon(t, app)
    const { id } = await submit(ro, de)
    const message = await referralMessage(app, id, de.id)
    const through = inboxCursor(message.txid, message.seq)
    t.match(await de.client.request('POST', '/v1/inbox/confirm', { through }), { confirmed: 1 })
    t.same(
      (await stored(app, id)).map((row) => row.event),
      ['delivery'],
      'with its evidence',
    )
    await older.end()
  },
)

t.test('delivery evidence from a webhook 2xx, once, even when the inbox is confirmed later', async (t) => {
  const { app, config } = await buildTestApp(t, FAST)
  const receiver = await receiverFor(t, () => 204)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', push: receiver.url })
  await startTestWorker(t, config, app.hubKeys)
  const { id, answer } = await submit(ro, de)

  const [delivery] = await eventually(async () => {
    const rows = await stored(app, id)
    return rows.length > 0 ? rows : undefined
  }, 'the delivery evidence')
  t.equal(delivery!.event, 'delivery')
  // The webhook confirmed the message; confirming through it in the inbox issues nothing more.
  const message = await referralMessage(app, id, de.id)
  t.ok(message.confirmed_at, 'the 2xx confirmed the inbox copy')
  const through = inboxCursor(message.txid, message.seq)
  t.match(await de.client.request('POST', '/v1/inbox/confirm', { through }), { confirmed: 0 })
  const items = await listEvidence(ro, id)
  t.same(
    items.map((i) => i.event),
    ['delivery'],
  )
  await checkEvidence(t, app, items[0]!.jws, {
    referralId: id,
    event: 'delivery',
    recipient: de.id,
    receipt: answer['receipt'] as string,
  })
  t.equal((await evidenceMessages(ro, id, 1)).length, 1)
  t.equal((await issuedEvents(app, id)).length, 1)
})

t.test('non_delivery evidence after the last webhook attempt, once', async (t) => {
  const { app, config } = await buildTestApp(t, FAST)
  const receiver = await receiverFor(t, () => 503)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', push: receiver.url })
  await startTestWorker(t, config, app.hubKeys)
  const { id, answer } = await submit(ro, de)

  await eventually(async () => {
    const rows = await app.db
      .selectFrom('deliveries')
      .select('status')
      .where('referral_id', '=', id)
      .execute()
    return rows.length === 1 && rows[0]!.status === 'failed'
  }, 'the delivery to fail finally')
  const items = await listEvidence(ro, id)
  t.same(
    items.map((i) => i.event),
    ['non_delivery'],
    'issued with the final failure, not before',
  )
  const attempts = await app.db
    .selectFrom('deliveries')
    .select('attempts')
    .where('referral_id', '=', id)
    .executeTakeFirstOrThrow()
  t.equal(attempts.attempts, 2, 'after the last attempt')
  await checkEvidence(t, app, items[0]!.jws, {
    referralId: id,
    event: 'non_delivery',
    recipient: de.id,
    receipt: answer['receipt'] as string,
  })
  t.equal((await evidenceMessages(ro, id, 1)).length, 1)
  t.match(await issuedEvents(app, id), [{ details: { event: 'non_delivery' } }])
  t.equal((await issuedEvents(app, id)).length, 1)
})

t.test('non_retrieval evidence with the deadline escalation, once; none once retrieved', async (t) => {
  const { app } = await buildTestApp(t)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE' })
  const late = await submit(ro, de)
  const read = await submit(ro, de)
  await de.client.request('GET', `/v1/referrals/${read.id}`)

  const deps = (dueAt: string) => ({
    db: app.db,
    config: app.config,
    hubKeys: app.hubKeys,
    now: () => new Date(Date.parse(dueAt) + 1000),
  })
  const escalate = (referral: { id: string; answer: SubmissionResult }) =>
    escalateIfOverdue(deps(referral.answer['ackDueAt'] as string), referral.id)
  t.match(await escalate(late), { outcome: 'escalated' })
  t.match(await escalate(late), { outcome: 'nothing' }, 'a second run changes nothing')
  t.match(await escalate(read), { outcome: 'escalated' }, 'read but not received: escalated')

  const items = await listEvidence(ro, late.id)
  t.same(
    items.map((i) => i.event),
    ['non_retrieval'],
  )
  t.equal(items[0]!.at, new Date(Date.parse(late.answer['ackDueAt'] as string) + 1000).toISOString())
  await checkEvidence(t, app, items[0]!.jws, {
    referralId: late.id,
    event: 'non_retrieval',
    recipient: de.id,
    receipt: late.answer['receipt'] as string,
  })
  t.equal((await evidenceMessages(ro, late.id, 1)).length, 1)
  t.equal((await issuedEvents(app, late.id)).length, 1)
  t.same(
    (await listEvidence(ro, read.id)).map((i) => i.event),
    ['retrieval'],
    'a retrieved referral gets no non_retrieval',
  )
})
