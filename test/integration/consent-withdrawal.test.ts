import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { sql } from 'kysely'
import { pino } from 'pino'
import t from 'tap'
import { createDb } from '../../src/db/create-db.js'
import { startDeadlineSweep } from '../../src/jobs/deadline-sweep.js'
import { escalateUnconfirmedErasures } from '../../src/modules/deadlines/erasure-escalation.service.js'
import type { ReferralDocument } from '../../src/modules/referrals/referral-document.schema.js'
import { encryptSensitive, signReferral } from '../../src/sdk/documents.js'
import { addAgency, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { tablesContaining } from '../helpers/db-search.js'
import { encodedWithin } from '../helpers/disk-scan.js'
import { inboxUntil } from '../helpers/inbox.js'
import { acknowledge } from '../helpers/lifecycle.js'
import { referralDocument, writeCounts } from '../helpers/referrals.js'
import { refusal } from '../helpers/refusal.js'
import { eventually } from '../helpers/webhook-receiver.js'

type Json = Record<string, any>

/**
 * Every text, character, JSON, array and bytea column of every table of the test schema that holds
 * the needle (its UTF-8 bytes, for bytea): the whole database of the hub, column by column.
 */
async function columnsContaining(app: FastifyInstance, needle: string): Promise<string[]> {
  const schema = app.config.databaseSchema!
  const { rows: columns } = await sql<{ table_name: string; column_name: string; data_type: string }>`
    select c.table_name, c.column_name, c.data_type from information_schema.columns c
    join information_schema.tables t using (table_schema, table_name)
    where c.table_schema = ${schema} and t.table_type = 'BASE TABLE'
      and c.data_type in ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea', 'ARRAY')`.execute(
    app.db,
  )
  const found: string[] = []
  for (const { table_name, column_name, data_type } of columns) {
    const column = sql.ref(column_name)
    const holds =
      data_type === 'bytea'
        ? sql`position(convert_to(${needle}, 'UTF8') in ${column}) > 0`
        : sql`strpos(${column}::text, ${needle}) > 0`
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from ${sql.table(`${schema}.${table_name}`)} where ${holds}`.execute(app.db)
    if ((rows[0]?.n ?? 0) > 0) found.push(`${table_name}.${column_name}`)
  }
  t.ok(columns.length > 20, `searched ${columns.length} columns`)
  return found
}

const CONSENT = { status: 'given', scope: ['assistance', 'onward_sharing'], byGuardian: false } as const

t.test('consent withdrawal', async (t) => {
  const { app } = await buildTestApp(t, { CONSENT_ERASURE_DEADLINE_SECONDS: '3600' })
  const roNgo = await addAgency(app, { country: 'RO', kind: 'ngo' })
  const deNcp = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
  const deNgo = await addAgency(app, { country: 'DE', kind: 'ngo' })
  const deShelter = await addAgency(app, { country: 'DE', kind: 'social_services' })
  const atNgo = await addAgency(app, { country: 'AT', kind: 'ngo' })
  const outsider = await addAgency(app, { country: 'FR', kind: 'ngo' })

  const encKey = (agency: TestAgency) => agency.keys.publicJwks.keys.find((k) => k['use'] === 'enc')!
  const get = (agency: TestAgency, id: string) => agency.client.request<Json>('GET', `/v1/referrals/${id}`)
  const withdraw = (agency: TestAgency, id: string, scope: string, extra: Json = {}) =>
    acknowledge(agency, id, 'consent_withdrawn', { scope, ...extra })
  const signed = new Map<string, string>() // JWE → the JWS that carries it

  /** Posts a referral from `from` whose `sensitive` is encrypted to `to`; `received` by `to`. */
  async function link(from: TestAgency, to: TestAgency, parent?: { id: string; victimReference: string }) {
    const sensitive = await encryptSensitive({ note: `fictional case note ${randomUUID()}` }, encKey(to))
    const base = referralDocument(from, parent ? { agencyId: to.id } : { country: 'DE' }, {
      sensitive,
      consent: { ...CONSENT, scope: [...CONSENT.scope], recordedAt: new Date().toISOString() },
      ...(parent ? { onwardOf: parent.id } : {}),
    })
    const document: ReferralDocument = parent
      ? { ...base, victim: { ...base.victim, reference: parent.victimReference } }
      : base
    const jws = await signReferral(document, from.keys.signing)
    signed.set(sensitive, jws)
    const result = await from.client.request<Json>('POST', '/v1/referrals', { jws })
    await acknowledge(to, document.id, 'received')
    return { id: document.id, victimReference: result['victimReference'] as string, jwe: sensitive }
  }

  /** RO NGO → DE NCP (routed by country) → DE NGO (which accepts, with a note for the NCP) → DE shelter. */
  async function threeLinkChain() {
    const first = await link(roNgo, deNcp)
    const second = await link(deNcp, deNgo, first)
    const note = await encryptSensitive({ note: 'fictional acceptance note' }, encKey(deNcp))
    await acknowledge(deNgo, second.id, 'accepted', { sensitive: note })
    const accepted = (await get(deNgo, second.id))['acknowledgements'].find(
      (a: Json) => a['type'] === 'accepted',
    )
    signed.set(note, accepted['jws'])
    const third = await link(deNgo, deShelter, second)
    return { first, second, third, jwes: [first.jwe, second.jwe, note, third.jwe] }
  }

  await t.test('withdrawal of all across a three-link chain', async (t) => {
    const chain = await threeLinkChain()
    const needles = (jwe: string) => {
      const jws = signed.get(jwe)!
      return [jwe, jwe.split('.')[3]!, jws, jws.split('.')[1]!, encodedWithin(jws, jwe)]
    }
    for (const jwe of chain.jwes) {
      t.not(
        (await columnsContaining(app, encodedWithin(signed.get(jwe)!, jwe))).length,
        0,
        'before: the search finds the encoded JWE where it is stored',
      )
    }

    await t.test(
      'only the agency that recorded the consent withdraws it, on the first referral',
      async (t) => {
        const before = await writeCounts(app)
        const onSecond = await refusal(withdraw(deNcp, chain.second.id, 'all'))
        t.match(onSecond, { status: 403, body: { code: 'TRM_AUTH_FORBIDDEN' } }, "a later link's sender: 403")
        const recipient = await refusal(withdraw(deNcp, chain.first.id, 'all'))
        t.match(recipient, { status: 403, body: { code: 'TRM_AUTH_FORBIDDEN' } }, 'the recipient: 403')
        const stranger = await refusal(withdraw(outsider, chain.first.id, 'all'))
        t.match(stranger, { status: 404, body: { code: 'TRM_NOT_FOUND' } }, 'anyone else: 404')
        const noScope = await refusal(acknowledge(roNgo, chain.first.id, 'consent_withdrawn'))
        t.match(noScope, { status: 422, body: { errors: [{ pointer: '/scope' }] } })
        const withSensitive = await refusal(
          withdraw(roNgo, chain.first.id, 'all', { sensitive: chain.first.jwe }),
        )
        t.match(withSensitive, { status: 422, body: { errors: [{ pointer: '/sensitive' }] } })
        const unconfirmable = await refusal(acknowledge(deNgo, chain.second.id, 'erasure_confirmed'))
        t.match(
          unconfirmable,
          { status: 409, body: { code: 'TRM_INVALID_TRANSITION' } },
          'nothing to confirm',
        )
        t.same(await writeCounts(app), before, 'no refusal wrote anything')
      },
    )

    const result = await withdraw(roNgo, chain.first.id, 'all')
    t.equal(result['status'], 'received', 'the state stays')

    await t.test(
      'every agency of the chain gets one consent_withdrawn message, on its own link',
      async (t) => {
        const expected = [
          [roNgo, chain.first.id],
          [deNcp, chain.first.id],
          [deNgo, chain.second.id],
          [deShelter, chain.third.id],
        ] as const
        for (const [agency, referralId] of expected) {
          const isIt = (m: Json) => m['type'] === 'consent_withdrawn'
          const messages = (await inboxUntil(agency, (items) => items.some(isIt))).filter(isIt)
          t.equal(messages.length, 1, 'once')
          t.match(messages[0], {
            referralId,
            body: { withdrawalId: result['id'], scope: 'all', withdrawnBy: roNgo.id },
          })
          t.notOk(messages[0]!['jws'], "no document: not even the withdrawal, another link's")
        }
        const stranger = await inboxUntil(outsider, () => true)
        t.same(stranger, [], 'no one else')
      },
    )

    await t.test('the hub holds no byte of any JWE of the chain, in any column of any table', async (t) => {
      for (const jwe of chain.jwes) {
        for (const needle of needles(jwe)) t.same(await columnsContaining(app, needle), [], 'nowhere')
        t.same(await tablesContaining(app, jwe), [], 'not in any row as text either')
      }
      const payloads = await app.db
        .selectFrom('referral_payloads')
        .innerJoin('referrals', 'referrals.seq', 'referral_payloads.referral_seq')
        .select('referrals.id')
        .where('referrals.id', 'in', [chain.first.id, chain.second.id, chain.third.id])
        .execute()
      t.same(payloads, [], 'no payload row of the chain')
      const view = await get(deShelter, chain.third.id)
      t.equal(view['jws'], null)
      t.equal(view['erased'], true)
    })

    await t.test(
      'after all consent is withdrawn: only erasure_confirmed, closed and withdrawn',
      async (t) => {
        const accepted = await refusal(acknowledge(deShelter, chain.third.id, 'accepted'))
        t.match(accepted, { status: 409, body: { code: 'TRM_INVALID_TRANSITION', detail: /withdrawn/ } })
        const again = await refusal(withdraw(roNgo, chain.first.id, 'onward_sharing'))
        t.match(again, { status: 409, body: { code: 'TRM_INVALID_TRANSITION' } }, 'nothing left to withdraw')
        t.match(await acknowledge(deNgo, chain.second.id, 'closed'), { status: 'closed' }, 'closed passes')
        const forward = referralDocument(
          deShelter,
          { agencyId: atNgo.id },
          {
            onwardOf: chain.third.id,
            consent: { ...CONSENT, scope: [...CONSENT.scope], recordedAt: new Date().toISOString() },
          },
        )
        forward.victim.reference = chain.third.victimReference
        const onward = await refusal(
          deShelter.client.request('POST', '/v1/referrals', {
            jws: await signReferral(forward, deShelter.keys.signing),
          }),
        )
        t.match(onward, { status: 422, body: { code: 'TRM_ONWARD_CONSENT_WITHDRAWN' } }, 'no onward referral')
      },
    )

    await t.test('confirmations are tracked; the one missing is escalated to its NCP, once', async (t) => {
      await acknowledge(roNgo, chain.first.id, 'erasure_confirmed')
      await acknowledge(deNcp, chain.second.id, 'erasure_confirmed')
      await acknowledge(deNgo, chain.third.id, 'erasure_confirmed')
      const twice = await refusal(acknowledge(deNgo, chain.second.id, 'erasure_confirmed'))
      t.match(twice, { status: 409, body: { code: 'TRM_INVALID_TRANSITION' } }, 'a holder confirms once')
      const told = (m: Json) => m['type'] === 'erasure_confirmed'
      const confirmations = (await inboxUntil(roNgo, (items) => items.filter(told).length >= 2)).filter(told)
      t.same(
        confirmations.map((m) => m['body']['agencyId']).sort(),
        [deNcp.id, deNgo.id].sort(),
        'the withdrawer is told of each other holder',
      )
      for (const [agency, id] of [
        [roNgo, chain.first.id],
        [deShelter, chain.third.id],
      ] as const) {
        const [withdrawal] = (await get(agency, id))['consentWithdrawals']
        t.equal(withdrawal['id'], result['id'])
        t.same(
          withdrawal['confirmed'].map((c: Json) => c['agencyId']).sort(),
          [roNgo.id, deNcp.id, deNgo.id].sort(),
        )
        t.same(withdrawal['pending'], [{ agencyId: deShelter.id, escalatedAt: null }])
      }

      const confirmBy = new Date((await get(roNgo, chain.first.id))['consentWithdrawals'][0]['confirmBy'])
      const deps = { db: app.db, config: app.config }
      const early = await escalateUnconfirmedErasures(deps, new Date(confirmBy.getTime() - 1))
      t.same(early, { escalated: 0, notified: 0 }, 'nothing before the due time')
      const due = await escalateUnconfirmedErasures(deps, confirmBy)
      t.same(due, { escalated: 1, notified: 1 }, 'the shelter, at its due time')
      const later = await escalateUnconfirmedErasures(deps, new Date(confirmBy.getTime() + 86_400_000))
      t.same(later, { escalated: 0, notified: 0 }, 'once')
      const isIt = (m: Json) => m['type'] === 'escalation' && m['body']?.['reason'] === 'erasure_unconfirmed'
      const escalations = (await inboxUntil(deNcp, (items) => items.some(isIt))).filter(isIt)
      t.equal(escalations.length, 1)
      t.match(escalations[0], {
        referralId: chain.third.id,
        body: { agencyId: deShelter.id, withdrawalId: result['id'] },
      })
      const events = await app.db
        .selectFrom('audit_events')
        .select('target_id')
        .where('action', '=', 'consent.erasure_escalated')
        .execute()
      t.same(events, [{ target_id: deShelter.id }])
      const [withdrawal] = (await get(roNgo, chain.first.id))['consentWithdrawals']
      t.equal(withdrawal['pending'][0]['escalatedAt'], confirmBy.toISOString())

      await acknowledge(deShelter, chain.third.id, 'erasure_confirmed')
      const [after] = (await get(roNgo, chain.first.id))['consentWithdrawals']
      t.equal(after['confirmed'].length, 4, 'a late confirmation still counts')
      t.same(after['pending'], [])
    })
  })

  await t.test(
    'withdrawal of law_enforcement: no onward referral to the police or a prosecutor, one to an NGO still goes',
    async (t) => {
      const dePolice = await addAgency(app, { country: 'DE', kind: 'law_enforcement' })
      const scope = ['assistance', 'onward_sharing', 'law_enforcement'] as const
      const consent = () => ({ ...CONSENT, scope: [...scope], recordedAt: new Date().toISOString() })
      const first = referralDocument(roNgo, { agencyId: deNcp.id }, { consent: consent() })
      const posted = await roNgo.client.request<Json>('POST', '/v1/referrals', {
        jws: await signReferral(first, roNgo.keys.signing),
      })
      await acknowledge(deNcp, first.id, 'received')
      const onwardTo = async (to: TestAgency) => {
        const forward = referralDocument(
          deNcp,
          { agencyId: to.id },
          { onwardOf: first.id, consent: consent() },
        )
        forward.victim.reference = posted['victimReference'] as string
        const jws = await signReferral(forward, deNcp.keys.signing)
        return deNcp.client.request<Json>('POST', '/v1/referrals', { jws }).then(() => forward.id)
      }
      await withdraw(roNgo, first.id, 'law_enforcement')
      // Both holders confirm their erasure: nothing of this case is left for the sweep below.
      await acknowledge(deNcp, first.id, 'erasure_confirmed')
      await acknowledge(roNgo, first.id, 'erasure_confirmed')
      t.match(
        await refusal(onwardTo(dePolice)),
        { status: 422, body: { code: 'TRM_ONWARD_CONSENT_WITHDRAWN', errors: [{ pointer: '/onwardOf' }] } },
        'to a law-enforcement agency: refused',
      )
      const onward = await onwardTo(deNgo)
      t.match(await get(deNgo, onward), { onwardOf: first.id }, 'to an assistance agency: the case goes on')
    },
  )

  await t.test(
    'withdrawal of onward_sharing on a single referral: the case goes on, not onward',
    async (t) => {
      const single = await link(roNgo, deNcp)
      const result = await withdraw(roNgo, single.id, 'onward_sharing')
      for (const agency of [roNgo, deNcp]) {
        const isIt = (m: Json) => m['type'] === 'consent_withdrawn' && m['referralId'] === single.id
        const messages = (await inboxUntil(agency, (items) => items.some(isIt))).filter(isIt)
        t.equal(messages.length, 1)
        t.equal(messages[0]!['body']['scope'], 'onward_sharing')
      }
      t.same(await columnsContaining(app, single.jwe), [], 'the hub erased its copy')
      t.match(
        await acknowledge(deNcp, single.id, 'accepted'),
        { status: 'accepted' },
        'the lifecycle goes on',
      )
      const forward = referralDocument(
        deNcp,
        { agencyId: deNgo.id },
        {
          onwardOf: single.id,
          consent: { ...CONSENT, scope: [...CONSENT.scope], recordedAt: new Date().toISOString() },
        },
      )
      forward.victim.reference = single.victimReference
      const onward = await refusal(
        deNcp.client.request('POST', '/v1/referrals', {
          jws: await signReferral(forward, deNcp.keys.signing),
        }),
      )
      t.match(onward, { status: 422, body: { code: 'TRM_ONWARD_CONSENT_WITHDRAWN' } })
      const again = await refusal(withdraw(roNgo, single.id, 'onward_sharing'))
      t.match(again, {
        status: 409,
        body: { code: 'TRM_INVALID_TRANSITION', errors: [{ pointer: '/scope' }] },
      })
      const all = await withdraw(roNgo, single.id, 'all')
      const view = await get(deNcp, single.id)
      t.same(
        view['consentWithdrawals'].map((w: Json) => [w['id'], w['scope'], w['pending'].length]),
        [
          [result['id'], 'onward_sharing', 2],
          [all['id'], 'all', 2],
        ],
      )
      await acknowledge(deNcp, single.id, 'erasure_confirmed')
      const [first, second] = (await get(roNgo, single.id))['consentWithdrawals']
      t.same([first['confirmed'].length, second['confirmed'].length], [1, 1], 'one confirmation answers both')

      // The worker's deadline sweep runs the same escalation; RO has no national contact point to tell.
      const dueTime = new Date(new Date(second['confirmBy']).getTime() + 1)
      const { db, pool } = createDb(app.config, 'trm-test-consent-sweep')
      const sweep = await startDeadlineSweep({
        db,
        pool,
        config: { ...app.config, deadlineSweepMs: 3_600_000 },
        hubKeys: app.hubKeys,
        log: pino({ level: 'silent' }),
        now: () => dueTime,
      })
      t.teardown(async () => {
        await sweep.close()
        await db.destroy()
      })
      const escalated = () =>
        app.db
          .selectFrom('consent_erasures')
          .select('withdrawal_id')
          .where('agency_id', '=', roNgo.id)
          .where('escalated_at', 'is not', null)
          .execute()
      await eventually(
        async () => (await escalated()).length === 2,
        "RO's two requests escalated by the sweep",
      )
      await sweep.runOnce()
      t.equal((await escalated()).length, 2, 'once each')
      t.same(
        await escalateUnconfirmedErasures({ db: app.db, config: app.config }, dueTime),
        { escalated: 0, notified: 0 },
        'nothing left',
      )
      const [escalatedFirst] = (await get(roNgo, single.id))['consentWithdrawals']
      t.ok(escalatedFirst['pending'][0]['escalatedAt'], 'marked escalated, with no NCP to tell')
    },
  )
})
