import { randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import t from 'tap'
import type { ReferralDocument } from '../../src/modules/referrals/referral-document.schema.js'
import { countCombinations } from '../../src/modules/stats/stats.repository.js'
import { signReferral } from '../../src/sdk/documents.js'
import { addAgency, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { inboxUntil } from '../helpers/inbox.js'
import { acknowledge } from '../helpers/lifecycle.js'
import { referralDocument, writeCounts } from '../helpers/referrals.js'
import { refusal } from '../helpers/refusal.js'
import { eventually } from '../helpers/webhook-receiver.js'

type Json = Record<string, any>

const ONWARD = { status: 'given', scope: ['assistance', 'onward_sharing'], byGuardian: false } as const

t.test('onward referral', async (t) => {
  const { app } = await buildTestApp(t)
  const roNgo = await addAgency(app, { country: 'RO', kind: 'ngo' })
  const deNcp = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
  const deNgo = await addAgency(app, { country: 'DE', kind: 'ngo' })
  const deShelter = await addAgency(app, { country: 'DE', kind: 'social_services' })
  const outsider = await addAgency(app, { country: 'FR', kind: 'ngo' })

  const post = async (from: TestAgency, document: ReferralDocument) =>
    from.client.request<Json>('POST', '/v1/referrals', {
      jws: await signReferral(document, from.keys.signing),
    })
  const consent = (scope: ReferralDocument['consent']['scope']) => ({
    ...ONWARD,
    scope,
    recordedAt: new Date().toISOString(),
  })
  /** A first referral RO NGO → DE NCP, received by the NCP unless told otherwise. */
  const parentReferral = async (overrides: Partial<ReferralDocument> = {}, received = true) => {
    const document = referralDocument(
      roNgo,
      { country: 'DE' },
      { consent: consent([...ONWARD.scope]), ...overrides },
    )
    const result = await post(roNgo, document)
    if (received) await acknowledge(deNcp, document.id, 'received')
    return { id: document.id as string, victimReference: result['victimReference'] as string }
  }
  /** The forwarder's document handing `parent` on to `to`. */
  const onward = (
    from: TestAgency,
    to: TestAgency,
    parent: { id: string; victimReference: string },
    overrides: Partial<ReferralDocument> = {},
  ) => {
    const base = referralDocument(
      from,
      { agencyId: to.id },
      { onwardOf: parent.id, consent: consent([...ONWARD.scope]) },
    )
    return { ...base, victim: { ...base.victim, reference: parent.victimReference }, ...overrides }
  }
  const get = (agency: TestAgency, id: string) => agency.client.request<Json>('GET', `/v1/referrals/${id}`)

  t.test('allowed: the NCP hands the case to an NGO; the first sender is told who took it on', async (t) => {
    const parent = await parentReferral()
    const document = onward(deNcp, deNgo, parent)
    const result = await post(deNcp, document)
    t.match(result, {
      id: document.id,
      status: 'submitted',
      recipient: { agencyId: deNgo.id, country: 'DE' },
    })
    t.equal(result['victimReference'], parent.victimReference)
    const row = await app.db
      .selectFrom('referrals')
      .selectAll()
      .where('id', '=', document.id)
      .executeTakeFirstOrThrow()
    t.equal(row.onward_of, parent.id)
    t.same(row.consent_scope, ['assistance', 'onward_sharing'], 'consent scope stored in its column')

    const isNotice = (item: Json) => item['type'] === 'onward_referral' && item['referralId'] === parent.id
    const notice = (await inboxUntil(roNgo, (items) => items.some(isNotice))).find(isNotice)
    t.ok(notice, "the parent's sender has an onward_referral message")
    t.same(notice?.['body'], {
      onwardReferralId: document.id,
      agency: { id: deNgo.id, country: 'DE', kind: 'ngo' },
    })
    t.notOk(notice?.['jws'], 'the message carries no document')
    // Written by the statement that wrote the referral: one transaction.
    const txids = await app.db
      .selectFrom('inbox_messages')
      .select(['txid', 'type'])
      .where((eb) =>
        eb.or([
          eb.and([eb('referral_id', '=', parent.id), eb('type', '=', 'onward_referral')]),
          eb.and([eb('referral_id', '=', document.id), eb('type', '=', 'referral')]),
        ]),
      )
      .execute()
    t.equal(txids.length, 2)
    t.equal(txids[0]?.txid, txids[1]?.txid, 'the notice and the referral message share a transaction')

    // The deadline sweep reads ack_due_at of every referral awaiting `received` (deadline-sweep.test.ts).
    const link = await app.db
      .selectFrom('referrals')
      .select(['status', 'submitted_at', 'ack_due_at', 'escalated_at'])
      .where('id', '=', document.id)
      .executeTakeFirstOrThrow()
    t.ok(
      link.status === 'submitted' && link.ack_due_at > link.submitted_at && link.escalated_at === null,
      'the onward link has its own acknowledgement deadline',
    )

    const handedOn = await app.db
      .selectFrom('audit_events')
      .select(['actor', 'details'])
      .where('referral_id', '=', parent.id)
      .where('action', '=', 'referral.handed_on')
      .execute()
    t.same(
      handedOn,
      [{ actor: deNcp.id, details: { onwardReferralId: document.id, recipient: deNgo.id } }],
      "the parent's trail shows to whom the case was handed on",
    )
  })

  t.test('each refusal names its rule and writes nothing', async (t) => {
    const received = await parentReferral()
    const notReceived = await parentReferral({}, false)
    const noConsent = await parentReferral({ consent: consent(['assistance']) })
    const forbidden = await parentReferral({ handling: ['no_onward_sharing'] })
    const between = await (async () => {
      const document = referralDocument(
        roNgo,
        { agencyId: deNgo.id },
        { consent: consent([...ONWARD.scope]) },
      )
      const result = await post(roNgo, document)
      await acknowledge(deNgo, document.id, 'received')
      return { id: document.id, victimReference: result['victimReference'] as string }
    })()
    const cases: [string, TestAgency, ReferralDocument, string, string][] = [
      [
        'no such parent',
        deNcp,
        onward(deNcp, deNgo, { ...received, id: randomUUID() }),
        'TRM_ONWARD_PARENT_UNKNOWN',
        '/onwardOf',
      ],
      [
        'a parent between others',
        deNcp,
        onward(deNcp, outsider, between),
        'TRM_ONWARD_PARENT_UNKNOWN',
        '/onwardOf',
      ],
      ["the parent's sender", roNgo, onward(roNgo, deNgo, received), 'TRM_ONWARD_NOT_RECIPIENT', '/onwardOf'],
      [
        'not received',
        deNcp,
        onward(deNcp, deNgo, notReceived),
        'TRM_ONWARD_PARENT_NOT_RECEIVED',
        '/onwardOf',
      ],
      [
        'another victim reference',
        deNcp,
        onward(deNcp, deNgo, { ...received, victimReference: notReceived.victimReference }),
        'TRM_ONWARD_VICTIM_MISMATCH',
        '/victim/reference',
      ],
      [
        'no onward_sharing consent',
        deNcp,
        onward(deNcp, deNgo, noConsent),
        'TRM_ONWARD_CONSENT_MISSING',
        '/onwardOf',
      ],
      [
        'handling no_onward_sharing',
        deNcp,
        onward(deNcp, deNgo, forbidden),
        'TRM_ONWARD_HANDLING_FORBIDS',
        '/onwardOf',
      ],
    ]
    // Without a victim reference at all: not the parent's either.
    const bare = onward(deNcp, deNgo, received)
    const { reference: _, ...victim } = bare.victim
    cases.push([
      'no victim reference',
      deNcp,
      { ...bare, victim },
      'TRM_ONWARD_VICTIM_MISMATCH',
      '/victim/reference',
    ])
    const handedOn = () =>
      app.db
        .selectFrom('audit_events')
        .select('id')
        .where('action', '=', 'referral.handed_on')
        .execute()
        .then((rows) => rows.length)
    const handedOnBefore = await handedOn()
    for (const [name, from, document, code, pointer] of cases) {
      const before = await writeCounts(app)
      const answer = await refusal(post(from, document))
      t.equal(answer.status, 422, name)
      t.equal(answer.body['code'], code, name)
      t.match(answer.body['errors'], [{ pointer }], name)
      t.same(await writeCounts(app), before, `${name}: nothing written`)
    }
    t.equal(await handedOn(), handedOnBefore, 'no referral.handed_on event for a refusal')
  })

  t.test('the parent is checked under its lock: a change committed meanwhile decides', async (t) => {
    const parent = await parentReferral()
    const document = onward(deNcp, deNgo, parent)
    let answer: Promise<{ status: number; body: Json }> | undefined
    await app.db.transaction().execute(async (trx) => {
      await sql`select from referrals where id = ${parent.id} for update`.execute(trx)
      answer = refusal(post(deNcp, document))
      // The submission statement waits for the parent row this transaction holds.
      await eventually(async () => {
        const { rows } = await sql<{ waiting: boolean }>`select exists (select from pg_stat_activity
          where pg_backend_pid() = any (pg_blocking_pids(pid))) as waiting`.execute(trx)
        return rows[0]?.waiting
      }, 'the submission to wait for the parent row')
      await sql`update referrals set consent_scope = '{assistance}' where id = ${parent.id}`.execute(trx)
    })
    const refused = await answer!
    t.equal(refused.status, 422)
    t.equal(refused.body['code'], 'TRM_ONWARD_CONSENT_MISSING', 'decided on the parent as committed')
  })

  t.test('a three-link chain: who sees what', async (t) => {
    const first = await parentReferral()
    const second = onward(deNcp, deNgo, first)
    await post(deNcp, second)
    await acknowledge(deNgo, second.id, 'received')
    const third = onward(deNgo, deShelter, { id: second.id, victimReference: first.victimReference })
    await post(deNgo, third)

    const link = (id: string, onwardOf: string, to: TestAgency, kind: string) => ({
      id,
      onwardOf,
      recipient: { agencyId: to.id, country: to.country, kind },
      status: 'submitted',
    })
    const secondLink = { ...link(second.id, first.id, deNgo, 'ngo'), status: 'received' }
    const thirdLink = link(third.id, second.id, deShelter, 'social_services')

    const ofFirst = await get(roNgo, first.id)
    t.equal(ofFirst['onwardOf'], null)
    t.match(ofFirst['onward'], [secondLink, thirdLink], 'the first sender sees the agencies down the chain')
    t.equal(ofFirst['onward'].length, 2)
    for (const item of ofFirst['onward']) t.notOk('jws' in item, 'never a link’s document')
    t.same((await get(deNcp, first.id))['onward'].length, 2)

    const ofSecond = await get(deNcp, second.id)
    t.equal(ofSecond['onwardOf'], first.id)
    t.match(ofSecond['onward'], [thirdLink])
    t.equal(ofSecond['onward'].length, 1)
    t.equal((await get(deNgo, second.id))['onwardOf'], first.id)

    const ofThird = await get(deShelter, third.id)
    t.equal(ofThird['onwardOf'], second.id)
    t.same(ofThird['onward'], [])

    const notIn: [TestAgency, string][] = [
      [roNgo, second.id],
      [roNgo, third.id],
      [deNcp, third.id],
      [deNgo, first.id],
      [deShelter, first.id],
      [deShelter, second.id],
      [outsider, first.id],
      [outsider, second.id],
      [outsider, third.id],
    ]
    for (const [agency, id] of notIn) {
      const answer = await refusal(get(agency, id))
      t.equal(answer.status, 404, 'a party asking for a link it is not in gets 404')
      t.equal(answer.body['code'], 'TRM_NOT_FOUND')
    }

    const isNotice = (item: Json) => item['type'] === 'onward_referral' && item['referralId'] === second.id
    const notice = (await inboxUntil(deNcp, (items) => items.some(isNotice))).find(isNotice)
    t.same(notice?.['body'], {
      onwardReferralId: third.id,
      agency: { id: deShelter.id, country: 'DE', kind: 'social_services' },
    })

    t.test('statistics count the chain once, by its first referral', async (t) => {
      const chain = [first.id, second.id, third.id]
      const period = { start: new Date('2025-01-01T00:00:00Z'), end: new Date('2025-04-01T00:00:00Z') }
      await app.db
        .updateTable('referrals')
        .set({ submitted_at: new Date('2025-02-10T00:00:00Z') })
        .where('id', 'in', chain)
        .execute()
      const groups = await countCombinations(app.db, period)
      t.equal(
        groups.reduce((sum, group) => sum + group.count, 0),
        1,
      )
      t.same(groups[0]?.values.destinationCountry, ['DE'])
      t.same(groups[0]?.values.originCountry, ['RO'], 'counted by the first referral: RO → DE')
    })
  })
})
