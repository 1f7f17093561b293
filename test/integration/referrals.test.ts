import { CompactSign } from 'jose'
import t from 'tap'
import {
  decryptSensitive,
  encryptSensitive,
  signAcknowledgement,
  signReferral,
  verifyAgencySignature,
  verifyReceipt,
} from '../../src/sdk/documents.js'
import { addAgency, revokeKeysDirectly } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { referralDocument, writeCounts } from '../helpers/referrals.js'
import { refusal } from '../helpers/refusal.js'

type Json = Record<string, any>
t.test('referrals', async (t) => {
  const { app } = await buildTestApp(t)
  const ro = await addAgency(app, { country: 'RO', kind: 'ngo' })
  const de = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
  const police = await addAgency(app, { country: 'DE', kind: 'law_enforcement' })
  const third = await addAgency(app, { country: 'FR', kind: 'ngo' })
  const hubJwks = (await app.inject('/.well-known/jwks.json')).json()
  const post = (agency: typeof ro, jws: string) =>
    agency.client.request<Json>('POST', '/v1/referrals', { jws })

  t.test('happy path: RO NGO to the German NCP, receipt, signature and sensitive details', async (t) => {
    const deEncKey = de.keys.publicJwks.keys.find((k) => k.use === 'enc')!
    const sensitive = await encryptSensitive(
      { note: 'Fictional details for a test: Jane Placeholder' },
      deEncKey,
    )
    const document = referralDocument(ro, { country: 'DE' }, { sensitive })
    const jws = await signReferral(document, ro.keys.signing)
    const result = await post(ro, jws)
    t.match(result, { id: document.id, status: 'submitted', recipient: { agencyId: de.id, country: 'DE' } })
    t.match(result['victimReference'], /^V-[0-9A-HJKMNP-TV-Z]{26}$/)
    t.equal(
      new Date(result['ackDueAt']).getTime() - new Date(result['submittedAt']).getTime(),
      24 * 3600 * 1000,
      'urgent: 24 h',
    )
    const receipt = await verifyReceipt(result['receipt'], hubJwks)
    t.match(receipt, { referralId: document.id, sender: ro.id, recipient: de.id })
    const inbox = await app.db
      .selectFrom('inbox_messages')
      .selectAll()
      .where('referral_id', '=', document.id)
      .execute()
    t.equal(inbox.length, 1)
    t.match(inbox[0], { agency_id: de.id, type: 'referral' })
    t.notOk('jws' in inbox[0]!, "the message shows the referral's JWS, no copy")
    const outbox = await app.db.selectFrom('outbox').selectAll().execute()
    t.same(outbox, [], 'no outbox row: a pull recipient, and deadlines are swept from the referrals')

    const view = await de.client.request<Json>('GET', `/v1/referrals/${document.id}`)
    t.equal(view['jws'], jws, 'stored byte for byte')
    const senderJwks = await de.client.request<{ keys: Json[] }>('GET', `/v1/agencies/${ro.id}/jwks.json`)
    t.same(await verifyAgencySignature(view['jws'], senderJwks as never), document)
    const opened = await decryptSensitive(document.sensitive!, de.keys.encryption)
    t.equal(opened.note, 'Fictional details for a test: Jane Placeholder')
    await t.rejects(decryptSensitive(document.sensitive!, ro.keys.encryption), 'not with the sender key')
    await t.rejects(
      decryptSensitive(document.sensitive!, { ...app.hubKeys.publicJwks.keys[0] } as never),
      'nor the hub',
    )
  })

  t.test(
    'an identical replay answers 200 with the same receipt; 20 concurrent posts make one referral',
    async (t) => {
      const document = referralDocument(ro, { agencyId: de.id })
      const jws = await signReferral(document, ro.keys.signing)
      const responses = await Promise.all(
        Array.from({ length: 20 }, () =>
          app.inject({
            method: 'POST',
            url: '/v1/referrals',
            headers: { authorization: `Bearer ${undefined}` },
            payload: { jws },
          }),
        ),
      )
      t.ok(
        responses.every((r) => r.statusCode === 401),
        'sanity: a bad token is refused',
      )
      const token = await ro.client.accessToken()
      const concurrent = await Promise.all(
        Array.from({ length: 20 }, () =>
          app.inject({
            method: 'POST',
            url: '/v1/referrals',
            headers: { authorization: `Bearer ${token}` },
            payload: { jws },
          }),
        ),
      )
      const statuses = concurrent.map((r) => r.statusCode)
      t.equal(statuses.filter((s) => s === 201).length, 1, 'exactly one created')
      t.ok(
        statuses.every((s) => s === 201 || s === 200 || s === 409),
        `only 201, 200 or 409: ${statuses.join(',')}`,
      )
      const rows = await app.db.selectFrom('referrals').select('id').where('id', '=', document.id).execute()
      t.equal(rows.length, 1)
      const inbox = await app.db
        .selectFrom('inbox_messages')
        .select('id')
        .where('referral_id', '=', document.id)
        .execute()
      t.equal(inbox.length, 1, 'one inbox message')
      const created = concurrent.find((r) => r.statusCode === 201)!.json()
      const replay = await app.inject({
        method: 'POST',
        url: '/v1/referrals',
        headers: { authorization: `Bearer ${token}` },
        payload: { jws },
      })
      t.equal(replay.statusCode, 200)
      t.equal(replay.json().receipt, created.receipt, 'the same receipt, byte for byte')
      // Re-signed (a new ECDSA signature over the same payload) is still the same document.
      const resigned = await signReferral(document, ro.keys.signing)
      t.not(resigned, jws)
      t.equal((await post(ro, resigned))['receipt'], created.receipt)
    },
  )

  t.test('a third agency gets 404 on the referral, on its list, and on a guessed id', async (t) => {
    const document = referralDocument(ro, { agencyId: de.id })
    await post(ro, await signReferral(document, ro.keys.signing))
    const read = await refusal(third.client.request('GET', `/v1/referrals/${document.id}`))
    t.equal(read.status, 404)
    const guessed = await refusal(
      third.client.request('GET', '/v1/referrals/0d9d4b52-0000-4000-8000-000000000000'),
    )
    t.equal(guessed.status, 404)
    t.same(read.body['detail'], guessed.body['detail'], 'the same answer for both')
    const list = await third.client.request<{ items: Json[] }>('GET', '/v1/referrals')
    t.same(list.items, [])
    const sent = await ro.client.request<{ items: Json[] }>('GET', '/v1/referrals?role=sent&limit=200')
    t.ok(sent.items.some((r) => r['id'] === document.id))
    const received = await de.client.request<{ items: Json[] }>(
      'GET',
      '/v1/referrals?role=received&status=submitted',
    )
    t.ok(received.items.some((r) => r['id'] === document.id))
    t.notOk(received.items.some((r) => r['sender'].agencyId !== ro.id && r['recipient'].agencyId !== de.id))
  })

  t.test('victim references and linkage tokens', async (t) => {
    const linkageToken = 'A'.repeat(43)
    const first = await post(
      ro,
      await signReferral(
        referralDocument(
          ro,
          { agencyId: de.id },
          {
            victim: { ...referralDocument(ro, { agencyId: de.id }).victim, linkageToken },
          },
        ),
        ro.keys.signing,
      ),
    )
    t.equal(first['possibleDuplicates'], 0)
    // The sender reuses its own reference; a third agency with the same token learns nothing of them.
    const reused = referralDocument(
      ro,
      { agencyId: police.id },
      {
        consent: {
          status: 'given',
          scope: ['assistance', 'law_enforcement'],
          recordedAt: new Date().toISOString(),
          byGuardian: false,
        },
        victim: {
          ...referralDocument(ro, { agencyId: de.id }).victim,
          reference: first['victimReference'],
          linkageToken,
        },
      },
    )
    const second = await post(ro, await signReferral(reused, ro.keys.signing))
    t.equal(second['victimReference'], first['victimReference'])
    t.equal(second['possibleDuplicates'], 1)
    const fromThird = referralDocument(
      third,
      { agencyId: de.id },
      {
        victim: { ...referralDocument(third, { agencyId: de.id }).victim, linkageToken },
      },
    )
    const third1 = await post(third, await signReferral(fromThird, third.keys.signing))
    t.equal(third1['possibleDuplicates'], 0, 'not even a count of referrals the sender is not party to')
    const thirdView = await third.client.request<Json>('GET', `/v1/referrals/${fromThird.id}`)
    t.match(thirdView, { possibleDuplicates: 0, possibleDuplicateIds: [] }, 'nor on reading it')
    const deView = await de.client.request<Json>('GET', `/v1/referrals/${fromThird.id}`)
    t.match(
      deView,
      { possibleDuplicates: 1, possibleDuplicateIds: [first['id']] },
      'the recipient sees the linked referral it is party to (the first, not the second)',
    )
  })

  t.test('a minor is never slower than urgent', async (t) => {
    const base = referralDocument(ro, { agencyId: de.id })
    const document = {
      ...base,
      urgency: 'routine' as const,
      victim: { ...base.victim, minor: true, ageGroup: '9-17' as const },
      consent: { ...base.consent, byGuardian: true },
    }
    const result = await post(ro, await signReferral(document, ro.keys.signing))
    t.equal(
      new Date(result['ackDueAt']).getTime() - new Date(result['submittedAt']).getTime(),
      24 * 3600 * 1000,
    )
  })

  // One refusal per rule: status, code, pointer, and nothing written.
  type Refusal = readonly [
    string,
    number,
    string,
    string | undefined,
    () => Promise<{ agency: typeof ro; jws: string }>,
  ]
  const refusals: Refusal[] = [
    [
      'alg outside ES256/EdDSA (HS256)',
      422,
      'TRM_JWS_HEADER_REFUSED',
      '/jws/header/alg',
      async () => {
        const jws = await new CompactSign(
          new TextEncoder().encode(JSON.stringify(referralDocument(ro, { agencyId: de.id }))),
        )
          .setProtectedHeader({ alg: 'HS256', kid: ro.keys.signing.kid, typ: 'trm-referral+json' })
          .sign(new TextEncoder().encode('x'.repeat(32)))
        return { agency: ro, jws }
      },
    ],
    ...(['jku', 'x5u', 'jwk', 'crit', 'b64'] as const).map(
      (member) =>
        [
          `a ${member} header`,
          422,
          'TRM_JWS_HEADER_REFUSED',
          `/jws/header/${member}`,
          async () => {
            const extra =
              member === 'crit'
                ? { crit: ['exp'], exp: 1 }
                : member === 'b64'
                  ? { b64: true }
                  : member === 'jwk'
                    ? { jwk: ro.keys.publicJwks.keys[0] }
                    : { [member]: 'https://attacker.example/keys' }
            // Assembled by hand: jose itself refuses to sign some of these headers.
            const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
            const signed = await signReferral(referralDocument(ro, { agencyId: de.id }), ro.keys.signing)
            const [, payload, signature] = signed.split('.')
            const header = { alg: 'ES256', kid: ro.keys.signing.kid, typ: 'trm-referral+json', ...extra }
            const jws = `${part(header)}.${payload}.${signature}`
            return { agency: ro, jws }
          },
        ] as Refusal,
    ),
    [
      'an acknowledgement-typed JWS posted as a referral',
      422,
      'TRM_JWS_TYP',
      '/jws/header/typ',
      async () => ({
        agency: ro,
        jws: await signAcknowledgement(referralDocument(ro, { agencyId: de.id }), ro.keys.signing),
      }),
    ],
    [
      'a signature by another agency’s key (its kid)',
      422,
      'TRM_KEY_UNKNOWN',
      '/jws/header/kid',
      async () => ({
        agency: ro,
        jws: await signReferral(referralDocument(ro, { agencyId: de.id }), third.keys.signing),
      }),
    ],
    [
      'a tampered signature',
      422,
      'TRM_SIGNATURE_INVALID',
      '/jws',
      async () => {
        const jws = await signReferral(referralDocument(ro, { agencyId: de.id }), ro.keys.signing)
        const [h, p] = jws.split('.')
        const forged = await signReferral(referralDocument(ro, { agencyId: de.id }), ro.keys.signing)
        return { agency: ro, jws: `${h}.${p}.${forged.split('.')[2]}` }
      },
    ],
    [
      'a payload naming another agency as sender',
      422,
      'TRM_SENDER_MISMATCH',
      '/sender',
      async () => ({
        agency: ro,
        jws: await signReferral(
          { ...referralDocument(ro, { agencyId: de.id }), sender: third.id },
          ro.keys.signing,
        ),
      }),
    ],
    [
      'an extra member victim.name',
      422,
      'TRM_DOCUMENT_INVALID',
      '/victim/name',
      async () => {
        const document = referralDocument(ro, { agencyId: de.id })
        return {
          agency: ro,
          jws: await signReferral(
            { ...document, victim: { ...document.victim, name: 'Fictional Name' } },
            ro.keys.signing,
          ),
        }
      },
    ],
    [
      'an unknown country code list value',
      422,
      'TRM_DOCUMENT_INVALID',
      '/exploitation/forms/0',
      async () => {
        const document = referralDocument(ro, { agencyId: de.id })
        const exploitation = { ...document.exploitation, forms: ['pickpocketing'] }
        return { agency: ro, jws: await signReferral({ ...document, exploitation }, ro.keys.signing) }
      },
    ],
    [
      'a country without a national contact point',
      422,
      'TRM_RECIPIENT_INVALID',
      '/recipient/country',
      async () => ({
        agency: ro,
        jws: await signReferral(referralDocument(ro, { country: 'IS' }), ro.keys.signing),
      }),
    ],
    [
      'the sender as recipient',
      422,
      'TRM_RECIPIENT_INVALID',
      '/recipient/agencyId',
      async () => ({
        agency: ro,
        jws: await signReferral(referralDocument(ro, { agencyId: ro.id }), ro.keys.signing),
      }),
    ],
    [
      "a minor's consent not by a guardian",
      422,
      'TRM_CONSENT_INSUFFICIENT',
      '/consent/byGuardian',
      async () => {
        const base = referralDocument(ro, { agencyId: de.id })
        return {
          agency: ro,
          jws: await signReferral({ ...base, victim: { ...base.victim, minor: true } }, ro.keys.signing),
        }
      },
    ],
    [
      'law enforcement without law_enforcement consent',
      422,
      'TRM_CONSENT_INSUFFICIENT',
      '/consent/scope',
      async () => ({
        agency: ro,
        jws: await signReferral(referralDocument(ro, { agencyId: police.id }), ro.keys.signing),
      }),
    ],
    [
      'consent refused to a non-assistance recipient',
      422,
      'TRM_CONSENT_INSUFFICIENT',
      '/consent/status',
      async () => {
        const base = referralDocument(ro, { agencyId: police.id })
        const consent = { ...base.consent, status: 'refused' as const, scope: ['law_enforcement' as const] }
        return { agency: ro, jws: await signReferral({ ...base, consent }, ro.keys.signing) }
      },
    ],
    [
      'sensitive not addressed to the recipient’s enc key',
      422,
      'TRM_SENSITIVE_INVALID',
      '/sensitive',
      async () => {
        const sensitive = await encryptSensitive({ note: 'fictional' }, third.keys.publicJwks.keys[1]!)
        return {
          agency: ro,
          jws: await signReferral(referralDocument(ro, { agencyId: de.id }, { sensitive }), ro.keys.signing),
        }
      },
    ],
    [
      'a victim reference the sender is not party to',
      422,
      'TRM_VICTIM_REFERENCE_UNKNOWN',
      '/victim/reference',
      async () => {
        const base = referralDocument(ro, { agencyId: de.id })
        const victim = { ...base.victim, reference: `V-${'A'.repeat(26)}` }
        return { agency: ro, jws: await signReferral({ ...base, victim }, ro.keys.signing) }
      },
    ],
  ]
  for (const [name, status, code, pointer, make] of refusals) {
    t.test(`refused: ${name}`, async (t) => {
      const before = await writeCounts(app)
      const { agency, jws } = await make()
      const { status: got, body } = await refusal(post(agency, jws))
      t.equal(got, status)
      t.equal(body['code'], code)
      if (pointer)
        t.ok(
          body['errors']?.some((e: Json) => e['pointer'] === pointer),
          `pointer ${pointer}`,
        )
      t.same(await writeCounts(app), before, 'nothing written')
    })
  }

  t.test('refused: a sensitive member when the recipient has no enc key', async (t) => {
    const noEnc = await addAgency(app, { country: 'NL' })
    await revokeKeysDirectly(app, noEnc.id, 'enc')
    const sensitive = await encryptSensitive({ note: 'fictional' }, noEnc.keys.publicJwks.keys[1]!)
    const before = await writeCounts(app)
    const { status, body } = await refusal(
      post(
        ro,
        await signReferral(referralDocument(ro, { agencyId: noEnc.id }, { sensitive }), ro.keys.signing),
      ),
    )
    t.equal(status, 422)
    t.equal(body['code'], 'TRM_SENSITIVE_INVALID')
    t.same(await writeCounts(app), before)
  })

  t.test('refused: the same id over a different document', async (t) => {
    const document = referralDocument(ro, { agencyId: de.id })
    await post(ro, await signReferral(document, ro.keys.signing))
    const before = await writeCounts(app)
    const { status, body } = await refusal(
      post(ro, await signReferral({ ...document, urgency: 'immediate' }, ro.keys.signing)),
    )
    t.equal(status, 422)
    t.equal(body['code'], 'TRM_DUPLICATE_MISMATCH')
    t.same(await writeCounts(app), before)
  })

  t.test('refused: not a JWS at all, and an oversize body', async (t) => {
    const { status, body } = await refusal(post(ro, 'definitely-not-a-jws'))
    t.equal(status, 422)
    t.equal(body['code'], 'TRM_JWS_MALFORMED')
    const token = await ro.client.accessToken()
    const big = await app.inject({
      method: 'POST',
      url: '/v1/referrals',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ jws: 'a'.repeat(400_000) }),
    })
    t.equal(big.statusCode, 413)
  })
})
