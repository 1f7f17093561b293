import t from 'tap'
import { sealPending } from '../../src/modules/audit/audit.service.js'
import { verifyAuditChain } from '../../src/modules/audit/audit.verify.js'
import { runRetention } from '../../src/modules/retention/retention.service.js'
import { encryptSensitive, signReferral } from '../../src/sdk/documents.js'
import { HubClient, type HubRequestError } from '../../src/sdk/hub-client.js'
import { addAgency, injectFetch } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { tablesContaining } from '../helpers/db-search.js'
import { inboxUntil } from '../helpers/inbox.js'
import { acknowledge, referralIn } from '../helpers/lifecycle.js'
import { referralDocument } from '../helpers/referrals.js'

type Json = Record<string, any>
const DAY = 86_400_000

t.test('retention and erasure', async (t) => {
  const { app } = await buildTestApp(t, { RETENTION_DAYS: '30' })
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', kind: 'national_agency' })
  const operator = await addAgency(app, { country: 'BE', kind: 'hub_operator' })
  const outsider = await addAgency(app, { country: 'FR' })

  t.test('retention with a frozen clock removes exactly the eligible payloads, once', async (t) => {
    const closed = await referralIn('closed', ro, de)
    const declined = await referralIn('declined', ro, de)
    const withdrawn = await referralIn('withdrawn', ro, de)
    const open = await referralIn('accepted', ro, de)
    const recent = await referralIn('closed', ro, de)
    // Age the three terminal referrals past the 30-day period (set as the lifecycle would have).
    const old = new Date(Date.now() - 31 * DAY)
    await app.db
      .updateTable('referrals')
      .set({ terminal_at: old })
      .where('id', 'in', [closed, declined, withdrawn])
      .execute()
    const now = () => new Date()
    const dry = await runRetention({ db: app.db, config: app.config, now }, { dryRun: true })
    t.same(dry.referrals.map((r) => r.id).sort(), [closed, declined, withdrawn].sort())
    t.equal(dry.purged, 0)
    t.equal(
      (await app.db.selectFrom('referrals').select('id').where('erased_at', 'is not', null).execute()).length,
      0,
      'a dry run changes nothing',
    )
    const payloads = async () =>
      new Set(
        (
          await app.db
            .selectFrom('referral_payloads')
            .innerJoin('referrals', 'referrals.seq', 'referral_payloads.referral_seq')
            .select('referrals.id')
            .execute()
        ).map((r) => r.id),
      )
    t.equal((await payloads()).size, 5, 'a dry run deletes no payload')

    const run = await runRetention({ db: app.db, config: app.config, now })
    t.equal(run.purged, 3)
    const rows = await app.db
      .selectFrom('referrals')
      .select(['id', 'erased_at', 'status', 'payload_sha256'])
      .execute()
    const kept = await payloads()
    for (const row of rows) {
      const eligible = [closed, declined, withdrawn].includes(row.id)
      t.equal(!kept.has(row.id), eligible, `${row.id} payload ${eligible ? 'removed' : 'kept'}`)
      t.equal(row.erased_at !== null, eligible)
      t.ok(row.payload_sha256, 'the digest stays')
    }
    const acks = await app.db.selectFrom('acknowledgements').select(['id', 'referral_id']).execute()
    const ackPayloads = new Set(
      (await app.db.selectFrom('acknowledgement_payloads').select('acknowledgement_id').execute()).map(
        (r) => r.acknowledgement_id,
      ),
    )
    for (const ack of acks)
      t.equal(!ackPayloads.has(ack.id), [closed, declined, withdrawn].includes(ack.referral_id))
    t.same(
      await app.db
        .selectFrom('compaction_due')
        .select(['table_name', 'erasures'])
        .orderBy('table_name')
        .execute(),
      [
        { table_name: 'acknowledgement_payloads', erasures: 6 },
        { table_name: 'referral_payloads', erasures: 3 },
      ],
      'the tables that lost rows are due for a rewrite, with how many',
    )
    const events = await app.db
      .selectFrom('audit_events')
      .select(['target_id', 'actor'])
      .where('action', '=', 'referral.purged')
      .execute()
    t.same(events.map((e) => e.target_id).sort(), [closed, declined, withdrawn].sort())
    t.ok(events.every((e) => e.actor === 'system'))
    for (const id of [open, recent]) {
      t.ok((await de.client.request<Json>('GET', `/v1/referrals/${id}`))['jws'], 'others untouched')
    }
    const view = await ro.client.request<Json>('GET', `/v1/referrals/${closed}`)
    t.match(view, { erased: true, jws: null, status: 'closed' })

    await sealPending({ db: app.db, hubKeys: app.hubKeys, origin: app.config.auditLog.origin })
    t.match(
      await verifyAuditChain(app.db, app.hubKeys.verificationKeys),
      { intact: true },
      'the audit chain verifies',
    )
    const again = await runRetention({ db: app.db, config: app.config, now })
    t.equal(again.purged, 0, 'a second run changes nothing')
    t.equal(
      (await app.db.selectFrom('audit_events').select('id').where('action', '=', 'referral.purged').execute())
        .length,
      3,
    )
  })

  t.test('erasure: 404 for a non-party, 403 for the recipient, then no table holds the bytes', async (t) => {
    const sensitive = await encryptSensitive({ note: 'fictional' }, de.keys.publicJwks.keys[1]!)
    const document = referralDocument(ro, { agencyId: de.id }, { sensitive })
    const jws = await signReferral(document, ro.keys.signing)
    await ro.client.request('POST', '/v1/referrals', { jws })
    const ack = await acknowledge(de, document.id, 'received')
    const ackJws = (await de.client.request<Json>('GET', `/v1/referrals/${document.id}`))[
      'acknowledgements'
    ][0].jws
    t.ok(ack)
    const signature = jws.split('.')[2]!
    // The JWE travels inside the JWS payload (base64url), so the payload part is where its bytes live.
    const payloadPart = jws.split('.')[1]!
    const ackSignature = ackJws.split('.')[2]
    t.same(
      (await tablesContaining(app, payloadPart)).sort(),
      ['referral_payloads'],
      "sanity: the search finds the payload before erasure (one copy: the inbox message shows the referral's)",
    )
    t.same(await tablesContaining(app, ackSignature), ['acknowledgement_payloads'], 'one copy of the ack too')
    const byOperatorFirst = await operator.client
      .request('GET', `/v1/referrals/${document.id}`)
      .catch((error: HubRequestError) => error.status)
    t.equal(byOperatorFirst, 404, 'an operator is no party: it does not read a live referral')

    const refuse = async (agency: typeof ro) => {
      try {
        await agency.client.request('POST', `/v1/referrals/${document.id}/erasure`, {
          reason: 'data_subject_request',
        })
      } catch (error) {
        return (error as HubRequestError).status
      }
      return 200
    }
    t.equal(await refuse(outsider), 404)
    t.equal(await refuse(de), 403)
    const missing = '0190f3c4-8b1e-7000-8000-000000000000'
    const refusedMissing = await outsider.client
      .request('POST', `/v1/referrals/${missing}/erasure`, { reason: 'other' })
      .catch((error: HubRequestError) => error.status)
    t.equal(refusedMissing, 404)
    const refusals = await app.db
      .selectFrom('audit_events')
      .select(['actor', 'target_id', 'referral_id', 'outcome', 'details'])
      .where('action', '=', 'referral.erasure_refused')
      .orderBy('id')
      .execute()
    t.same(
      refusals,
      [
        {
          actor: outsider.id,
          target_id: document.id,
          referral_id: document.id,
          outcome: 'refused',
          details: { reason: 'data_subject_request', refusal: 'not_found' },
        },
        {
          actor: de.id,
          target_id: document.id,
          referral_id: document.id,
          outcome: 'refused',
          details: { reason: 'data_subject_request', refusal: 'not_sender' },
        },
        {
          actor: outsider.id,
          target_id: missing,
          referral_id: missing,
          outcome: 'refused',
          details: { reason: 'other', refusal: 'not_found' },
        },
      ],
      'refused attempts are audited: who, which referral, why; a missing one and a hidden one alike',
    )
    const erased = await ro.client.request<Json>('POST', `/v1/referrals/${document.id}/erasure`, {
      reason: 'data_subject_request',
    })
    t.match(erased, { id: document.id, erased: true })
    for (const needle of [signature, payloadPart, ackSignature]) {
      t.same(await tablesContaining(app, needle), [], 'no table holds the payload bytes')
    }
    const view = await de.client.request<Json>('GET', `/v1/referrals/${document.id}`)
    t.match(view, { erased: true, jws: null })
    t.equal(view['acknowledgements'][0].jws, null)
    for (const agency of [ro, de]) {
      const told = (m: Json) => m['type'] === 'erasure' && m['referralId'] === document.id
      t.ok((await inboxUntil(agency, (items) => items.some(told))).some(told), 'both parties told')
    }
    const byOperator = await operator.client.request<Json>('POST', `/v1/referrals/${document.id}/erasure`, {
      reason: 'other',
    })
    t.equal(byOperator['erased'], true, 'an operator may erase too (idempotent)')
    const skeleton = await operator.client.request<Json>('GET', `/v1/referrals/${document.id}`)
    t.match(
      skeleton,
      { id: document.id, erased: true, jws: null, status: 'received', sender: { agencyId: ro.id } },
      'the operator reads the skeleton of an erased referral',
    )
    t.same(
      skeleton['acknowledgements'].map((a: Json) => [a['type'], a['jws']]),
      [['received', null]],
    )
    const read = await app.db
      .selectFrom('audit_events')
      .select(['details'])
      .where('action', '=', 'referral.read')
      .where('actor', '=', operator.id)
      .executeTakeFirstOrThrow()
    t.same(read.details, { role: 'operator' }, 'and that read is audited')
  })

  t.test("an operator erases another agency's referral only with agencies:admin", async (t) => {
    const document = referralDocument(ro, { agencyId: de.id })
    await ro.client.request('POST', '/v1/referrals', { jws: await signReferral(document, ro.keys.signing) })
    const operatorWith = (scope: string) =>
      new HubClient({
        baseUrl: app.config.publicUrl,
        agencyId: operator.id,
        signingKey: operator.keys.signing,
        scope,
        fetch: injectFetch(app),
      })
    const erase = (client: HubClient) =>
      client.request('POST', `/v1/referrals/${document.id}/erasure`, { reason: 'other' }).then(
        () => ({ status: 200, body: {} as Json }),
        (error: HubRequestError) => ({ status: error.status, body: error.body as Json }),
      )
    const narrow = await erase(operatorWith('referrals:write referrals:read'))
    t.equal(narrow.status, 403)
    t.match(narrow.body, { code: 'TRM_AUTH_FORBIDDEN', detail: /agencies:admin/ })
    const kept = await ro.client.request<Json>('GET', `/v1/referrals/${document.id}`)
    t.match(kept, { erased: false }, 'the referral is not erased')
    t.type(kept['jws'], 'string')
    t.equal((await erase(operatorWith('referrals:write agencies:admin'))).status, 200)
    t.match(await ro.client.request<Json>('GET', `/v1/referrals/${document.id}`), { erased: true, jws: null })
  })
})
