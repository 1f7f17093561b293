import fc from 'fast-check'
import t from 'tap'
import { signReferral } from '../../src/sdk/documents.js'
import { addAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { referralDocument, writeCounts } from '../helpers/referrals.js'

type Json = Record<string, unknown>
const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
const read = (p: string) => JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Json

/** Sets (or deletes, for undefined) a member at a path of object keys, copying along the way. */
function setAt(value: Json, path: string[], next: unknown): Json {
  const [head, ...rest] = path
  if (head === undefined) return value
  const copy: Json = Array.isArray(value) ? ([...value] as unknown as Json) : { ...value }
  if (rest.length === 0) {
    if (next === undefined) delete copy[head]
    else copy[head] = next
  } else {
    const child = copy[head]
    copy[head] = setAt(child && typeof child === 'object' ? (child as Json) : {}, rest, next)
  }
  return copy
}

const PATHS = [
  ['id'],
  ['sender'],
  ['recipient'],
  ['recipient', 'agencyId'],
  ['createdAt'],
  ['urgency'],
  ['stage'],
  ['victim'],
  ['victim', 'minor'],
  ['victim', 'ageGroup'],
  ['victim', 'citizenship'],
  ['victim', 'reference'],
  ['victim', 'linkageToken'],
  ['victim', 'fullName'],
  ['exploitation', 'forms'],
  ['exploitation', 'countries'],
  ['needs'],
  ['consent', 'status'],
  ['consent', 'byGuardian'],
  ['sensitive'],
  ['extra'],
]
const HEADER_KEYS = ['alg', 'kid', 'typ', 'jku', 'jwk', 'x5u', 'crit', 'b64', 'cty']

t.test('mutated signed referrals get only 4xx (or a 200 replay) and never store anything', async (t) => {
  const { app } = await buildTestApp(t)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
  const base = referralDocument(ro, { agencyId: de.id })
  const baseJws = await signReferral(base, ro.keys.signing)
  // Stored first, so any mutation keeping the id is a replay (200) or a conflict, never a new referral.
  t.equal((await ro.client.request<Json>('POST', '/v1/referrals', { jws: baseJws }))['id'], base.id)
  const token = await ro.client.accessToken()
  const before = await writeCounts(app)
  const statuses = new Map<number, number>()

  const anyValue = fc.oneof(
    fc.constant(undefined),
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.string({ maxLength: 40 }),
    fc.constantFrom(
      'ES256',
      'none',
      'HS256',
      'trm-ack+json',
      'DE',
      'V-AAAA',
      'routine',
      '💥',
      'A'.repeat(5000),
    ),
    fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 2 }),
  )
  const mutation = fc.oneof(
    fc.record({
      kind: fc.constant('payload' as const),
      path: fc.constantFrom(...PATHS),
      value: anyValue,
      resign: fc.boolean(),
    }),
    fc.record({
      kind: fc.constant('header' as const),
      key: fc.constantFrom(...HEADER_KEYS),
      value: anyValue,
    }),
    fc.record({
      kind: fc.constant('signature' as const),
      index: fc.nat(63),
      xor: fc.integer({ min: 1, max: 255 }),
    }),
    fc.record({ kind: fc.constant('raw' as const), text: fc.string({ maxLength: 200 }) }),
  )

  await fc.assert(
    fc.asyncProperty(mutation, async (m) => {
      const [h, p, s] = baseJws.split('.') as [string, string, string]
      let jws: string
      if (m.kind === 'payload') {
        const changed = setAt(read(p), m.path, m.value)
        jws = m.resign ? await signReferral(changed, ro.keys.signing) : `${h}.${part(changed)}.${s}`
      } else if (m.kind === 'header') {
        jws = `${part(setAt(read(h), [m.key], m.value))}.${p}.${s}`
      } else if (m.kind === 'signature') {
        const bytes = Buffer.from(s, 'base64url')
        bytes[m.index % bytes.length] = bytes[m.index % bytes.length]! ^ m.xor
        jws = `${h}.${p}.${bytes.toString('base64url')}`
      } else {
        jws = m.text
      }
      const response = await app.inject({
        method: 'POST',
        url: '/v1/referrals',
        headers: { authorization: `Bearer ${token}` },
        payload: { jws },
      })
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1)
      const ok = response.statusCode === 200 || (response.statusCode >= 400 && response.statusCode < 500)
      if (!ok)
        throw new Error(
          `status ${response.statusCode} for ${JSON.stringify(m).slice(0, 300)}: ${response.body}`,
        )
    }),
    { numRuns: 300, seed: 20261122 },
  )
  t.same(await writeCounts(app), before, 'nothing stored by any mutation')
  t.notOk(statuses.has(500), 'no 5xx')
  t.ok((statuses.get(422) ?? 0) > 100, `mostly refused as unprocessable: ${JSON.stringify([...statuses])}`)
})
