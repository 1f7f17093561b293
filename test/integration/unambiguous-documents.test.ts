import { randomUUID } from 'node:crypto'
import t from 'tap'
import { encryptSensitive, signAcknowledgement, signReferral } from '../../src/sdk/documents.js'
import { addAgency, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { signRawJws, withFirstMember } from '../helpers/raw-jws.js'
import { referralDocument, writeCounts } from '../helpers/referrals.js'
import { type Problem, refusal } from '../helpers/refusal.js'

// Issue 14, point 1: a signed document must have one reading. A recipient whose parser keeps the
// first of two members with one name reads another document than the one the hub checked (JSON.parse
// keeps the last). Every signed JSON the hub accepts is refused when it has a duplicate name at any
// depth, a lone surrogate or bytes that are not UTF-8 (I-JSON, RFC 7493; RFC 8725 §3.11), and the
// refusal names the place: /jws/header/… in the protected header, /jws/payload/… in the payload.

type Json = Record<string, unknown>
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

const referralHeader = (agency: TestAgency) =>
  JSON.stringify({ alg: 'ES256', kid: agency.keys.signing.kid, typ: 'trm-referral+json' })
const ackHeader = (agency: TestAgency) =>
  JSON.stringify({ alg: 'ES256', kid: agency.keys.signing.kid, typ: 'trm-ack+json' })

t.test(
  'signed documents with two readings are refused with the pointer, and nothing is written',
  async (t) => {
    const { app } = await buildTestApp(t)
    const ro = await addAgency(app, { country: 'RO', kind: 'ngo' })
    const de = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
    const third = await addAgency(app, { country: 'FR', kind: 'ngo' })

    const postReferral = (jws: string) => ro.client.request<Json>('POST', '/v1/referrals', { jws })
    const postAck = (agency: TestAgency, referralId: string, jws: string) =>
      agency.client.request<Json>('POST', `/v1/referrals/${referralId}/acknowledgements`, { jws })
    /** A referral from RO to DE that DE has marked received: the next answer may be accepted or info_requested. */
    const receivedReferral = async () => {
      const document = referralDocument(ro, { agencyId: de.id })
      await postReferral(await signReferral(document, ro.keys.signing))
      await postAck(
        de,
        document.id,
        await signAcknowledgement(
          {
            id: randomUUID(),
            referralId: document.id,
            type: 'received',
            createdAt: new Date().toISOString(),
          },
          de.keys.signing,
        ),
      )
      return document.id
    }
    const referralStatus = async (id: string) =>
      (await app.db.selectFrom('referrals').select('status').where('id', '=', id).executeTakeFirstOrThrow())
        .status

    /** Posts a referral signed over exactly `payload`; expects a 422 naming `pointer` and nothing written. */
    const refusedReferral = async (
      t: Tap,
      payload: string | Uint8Array,
      expected: { code: string; pointer: string },
      header: string | Uint8Array = referralHeader(ro),
    ) => {
      const before = await writeCounts(app)
      const { status, body } = await refusal(postReferral(signRawJws(header, payload, ro.keys.signing)))
      t.equal(status, 422)
      t.equal(body.code, expected.code)
      t.same(
        body.errors?.map((e) => e.pointer),
        [expected.pointer],
        `errors[].pointer is ${expected.pointer}`,
      )
      t.same(await writeCounts(app), before, 'nothing written')
      return body
    }
    type Tap = typeof t

    t.test('two recipients: refused at /jws/payload/recipient', async (t) => {
      // JSON.parse (the hub before) routes to the last (DE); a first-wins reader sees FR.
      const document = referralDocument(ro, { agencyId: de.id })
      const body = await refusedReferral(t, withFirstMember(document, 'recipient', { agencyId: third.id }), {
        code: 'TRM_DOCUMENT_INVALID',
        pointer: '/jws/payload/recipient',
      })
      t.match(body.detail, /member name "recipient" twice/)
      t.equal(
        await app.db.selectFrom('referrals').select('id').where('id', '=', document.id).executeTakeFirst(),
        undefined,
      )
      // The same document written once, by the same raw signer, is accepted: only the JSON was refused.
      const once = await postReferral(
        signRawJws(referralHeader(ro), JSON.stringify(document), ro.keys.signing),
      )
      t.match(once, { id: document.id, status: 'submitted', recipient: { agencyId: de.id } })
    })

    t.test(
      'minor true, then false (72 h deadline instead of 24 h): refused at /jws/payload/victim/minor',
      async (t) => {
        const document = referralDocument(ro, { agencyId: de.id }, { urgency: 'routine' })
        const text = JSON.stringify(document).replace('"victim":{', '"victim":{"minor":true,')
        t.match(text, /"minor":true,.*"minor":false/, 'sanity: both are there')
        await refusedReferral(t, text, { code: 'TRM_DOCUMENT_INVALID', pointer: '/jws/payload/victim/minor' })
      },
    )

    t.test(
      'a first id carrying free text past "no unknown members": refused at /jws/payload/id',
      async (t) => {
        const document = referralDocument(ro, { agencyId: de.id })
        await refusedReferral(t, withFirstMember(document, 'id', 'Fictional smuggled note, not a uuid'), {
          code: 'TRM_DOCUMENT_INVALID',
          pointer: '/jws/payload/id',
        })
      },
    )

    t.test(
      'an acknowledgement with type info_requested, then accepted: refused at /jws/payload/type',
      async (t) => {
        const referralId = await receivedReferral()
        const before = await writeCounts(app)
        const acknowledgement = {
          id: randomUUID(),
          referralId,
          type: 'accepted',
          createdAt: new Date().toISOString(),
        }
        const jws = signRawJws(
          ackHeader(de),
          withFirstMember(acknowledgement, 'type', 'info_requested'),
          de.keys.signing,
        )
        const { status, body } = await refusal(postAck(de, referralId, jws))
        t.equal(status, 422)
        t.equal(body.code, 'TRM_DOCUMENT_INVALID')
        t.same(
          body.errors?.map((e) => e.pointer),
          ['/jws/payload/type'],
        )
        t.same(await writeCounts(app), before, 'no acknowledgement, inbox message or audit event written')
        t.equal(
          await referralStatus(referralId),
          'received',
          'the referral is neither accepted nor waiting for information',
        )
      },
    )

    t.test('a lone surrogate escaped in an acknowledgement note: refused at /jws/payload/note', async (t) => {
      const referralId = await receivedReferral()
      const before = await writeCounts(app)
      const text = JSON.stringify({
        id: randomUUID(),
        referralId,
        type: 'accepted',
        note: 'Fictional note PLACEHOLDER',
        createdAt: new Date().toISOString(),
      }).replace('PLACEHOLDER', '\\ud800')
      const { status, body } = await refusal(
        postAck(de, referralId, signRawJws(ackHeader(de), text, de.keys.signing)),
      )
      t.equal(status, 422)
      t.equal(body.code, 'TRM_DOCUMENT_INVALID')
      t.same(
        body.errors?.map((e) => e.pointer),
        ['/jws/payload/note'],
      )
      t.match(body.detail, /lone surrogate/)
      t.same(await writeCounts(app), before, 'nothing written')
      t.equal(await referralStatus(referralId), 'received')
    })

    t.test(
      'a surrogate written as UTF-8 bytes (CESU-8) in a referral: refused at /jws/payload',
      async (t) => {
        const text = JSON.stringify(referralDocument(ro, { agencyId: de.id })).replace(
          '"presumed"',
          '"presumedXXX"',
        )
        const [head, tail] = text.split('XXX') as [string, string]
        const payload = Buffer.concat([Buffer.from(head), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from(tail)])
        const body = await refusedReferral(t, payload, {
          code: 'TRM_DOCUMENT_INVALID',
          pointer: '/jws/payload',
        })
        t.match(body.detail, /not UTF-8/)
      },
    )

    t.test('bytes that are not UTF-8 in a referral payload: refused at /jws/payload', async (t) => {
      const text = JSON.stringify(referralDocument(ro, { agencyId: de.id })).replace(
        '"presumed"',
        '"presumedXXX"',
      )
      const [head, tail] = text.split('XXX') as [string, string]
      const payload = Buffer.concat([Buffer.from(head), Buffer.from([0xff]), Buffer.from(tail)])
      await refusedReferral(t, payload, { code: 'TRM_DOCUMENT_INVALID', pointer: '/jws/payload' })
    })

    t.test('a protected header with two algs, or two typs: refused at /jws/header/<member>', async (t) => {
      const kid = ro.keys.signing.kid
      const cases: [string, string, string][] = [
        [
          'alg none, then ES256',
          `{"alg":"none","kid":"${kid}","typ":"trm-referral+json","alg":"ES256"}`,
          'alg',
        ],
        [
          'two kids',
          `{"alg":"ES256","kid":"${de.keys.signing.kid}","typ":"trm-referral+json","kid":"${kid}"}`,
          'kid',
        ],
        [
          'an acknowledgement typ, then a referral typ',
          `{"alg":"ES256","kid":"${kid}","typ":"trm-ack+json","typ":"trm-referral+json"}`,
          'typ',
        ],
      ]
      for (const [name, header, member] of cases) {
        t.test(name, async (t) => {
          const body = await refusedReferral(
            t,
            JSON.stringify(referralDocument(ro, { agencyId: de.id })),
            { code: 'TRM_JWS_HEADER_REFUSED', pointer: `/jws/header/${member}` },
            header,
          )
          t.match(body.detail, /^The protected header has the member name/)
        })
      }
    })

    t.test('a sensitive JWE whose header names two kids: refused at /sensitive', async (t) => {
      // The hub checked the last kid (DE's encryption key); a first-wins reader sees another key.
      const deEncKey = de.keys.publicJwks.keys.find((k) => k.use === 'enc')!
      const jwe = await encryptSensitive({ note: 'Fictional details for a test' }, deEncKey)
      const header = JSON.parse(Buffer.from(jwe.split('.')[0]!, 'base64url').toString('utf8'))
      const twoKids = withFirstMember(
        header,
        'kid',
        third.keys.publicJwks.keys.find((k) => k.use === 'enc')!.kid,
      )
      const sensitive = [Buffer.from(twoKids).toString('base64url'), ...jwe.split('.').slice(1)].join('.')
      const document = referralDocument(ro, { agencyId: de.id }, { sensitive })
      const before = await writeCounts(app)
      const { status, body } = await refusal(postReferral(await signReferral(document, ro.keys.signing)))
      t.equal(status, 422)
      t.equal(body.code, 'TRM_SENSITIVE_INVALID')
      t.same(
        body.errors?.map((e) => e.pointer),
        ['/sensitive'],
      )
      t.match(body.detail, /JWE protected header has the member name "kid" twice/)
      t.same(await writeCounts(app), before, 'nothing written')
    })

    t.test('bytes that are not UTF-8 in a protected header: refused at /jws/header', async (t) => {
      const header = Buffer.concat([
        Buffer.from(`{"alg":"ES256","kid":"${ro.keys.signing.kid}","typ":"trm-referral+json","x":"`),
        Buffer.from([0xff]),
        Buffer.from('"}'),
      ])
      await refusedReferral(
        t,
        JSON.stringify(referralDocument(ro, { agencyId: de.id })),
        { code: 'TRM_JWS_HEADER_REFUSED', pointer: '/jws/header' },
        header,
      )
    })
  },
)

t.test('client assertions with two readings are refused like any bad assertion (one 401)', async (t) => {
  const { app } = await buildTestApp(t)
  const ngo = await addAgency(app, { country: 'RO' })
  const other = await addAgency(app, { country: 'DE' })
  const tokenUrl = `${app.config.publicUrl}/v1/oauth/token`
  const issued = async () =>
    Number(
      (
        await app.db
          .selectFrom('audit_events')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('action', '=', 'token.issued')
          .executeTakeFirstOrThrow()
      ).n,
    )
  const postToken = (assertion: string) =>
    app.inject({
      method: 'POST',
      url: '/v1/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: assertion,
      }).toString(),
    })
  const claims = () => {
    const now = Math.floor(Date.now() / 1000)
    return { iss: ngo.id, sub: ngo.id, aud: tokenUrl, iat: now, exp: now + 60, jti: randomUUID() }
  }
  const header = JSON.stringify({ alg: 'ES256', kid: ngo.keys.signing.kid, typ: 'JWT' })

  const cases: [string, () => string][] = [
    ['a duplicate iss in the claims', () => withFirstMember(claims(), 'iss', other.id)],
    [
      'a duplicate aud in the claims',
      () => withFirstMember(claims(), 'aud', 'https://elsewhere.example/token'),
    ],
    [
      'a lone surrogate in the jti',
      () => JSON.stringify({ ...claims(), jti: 'jti-PLACEHOLDER' }).replace('PLACEHOLDER', '\\udc00'),
    ],
  ]
  t.test('sanity: the same claims written once, by the same raw signer, are accepted', async (t) => {
    const response = await postToken(signRawJws(header, JSON.stringify(claims()), ngo.keys.signing))
    t.equal(response.statusCode, 200)
  })
  for (const [name, payload] of cases) {
    t.test(`refused: ${name}`, async (t) => {
      const before = await issued()
      const response = await postToken(signRawJws(header, payload(), ngo.keys.signing))
      t.equal(response.statusCode, 401)
      t.match(response.json(), {
        error: 'invalid_client',
        error_description: 'Client authentication failed.',
      })
      t.equal(await issued(), before, 'no token issued')
    })
  }
  t.test('refused: bytes that are not UTF-8 in the claims', async (t) => {
    const before = await issued()
    const text = JSON.stringify({ ...claims(), note: 'XXX' })
    const [head, tail] = text.split('XXX') as [string, string]
    const payload = Buffer.concat([Buffer.from(head), Buffer.from([0xc3, 0x28]), Buffer.from(tail)])
    const response = await postToken(signRawJws(header, payload, ngo.keys.signing))
    t.equal(response.statusCode, 401)
    t.equal(response.json().error, 'invalid_client')
    t.equal(await issued(), before)
  })
  t.test('refused: a byte order mark before the claims (RFC 8259 §8.1)', async (t) => {
    const before = await issued()
    const payload = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(claims()))])
    const response = await postToken(signRawJws(header, payload, ngo.keys.signing))
    t.equal(response.statusCode, 401)
    t.equal(response.json().error, 'invalid_client')
    t.equal(await issued(), before)
  })
  t.test('refused: a duplicate alg in the protected header', async (t) => {
    const before = await issued()
    const twoAlgs = `{"alg":"none","kid":"${ngo.keys.signing.kid}","typ":"JWT","alg":"ES256"}`
    const response = await postToken(signRawJws(twoAlgs, JSON.stringify(claims()), ngo.keys.signing))
    t.equal(response.statusCode, 401)
    t.equal(response.json().error, 'invalid_client')
    t.equal(await issued(), before)
  })
})
