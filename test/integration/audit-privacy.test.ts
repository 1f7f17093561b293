import { sql } from 'kysely'
import t from 'tap'
import { encryptSensitive, signReferral } from '../../src/sdk/documents.js'
import type { HubRequestError } from '../../src/sdk/hub-client.js'
import { addAgency } from '../helpers/agencies.js'
import { seal } from '../helpers/audit.js'
import { buildTestApp } from '../helpers/build-app.js'
import { referralDocument } from '../helpers/referrals.js'

t.test('no victim data reaches the audit log or the app log', async (t) => {
  const { app, logs } = await buildTestApp(t)
  const operator = await addAgency(app, { kind: 'hub_operator', country: 'BE' })
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })

  const canaryText = 'CANARY-3f9e2 Fictional Person, born nowhere'
  const linkageToken = `CANARY${'c'.repeat(37)}`
  t.equal(linkageToken.length, 43)
  const deEncKey = de.keys.publicJwks.keys.find((k) => k.use === 'enc')!
  const sensitive = await encryptSensitive({ note: canaryText }, deEncKey)
  const base = referralDocument(ro, { agencyId: de.id })
  const document = { ...base, sensitive, victim: { ...base.victim, linkageToken } }
  const jws = await signReferral(document, ro.keys.signing)

  const created = await ro.client.request<{ id: string }>('POST', '/v1/referrals', { jws })
  await ro.client.request('POST', '/v1/referrals', { jws }) // an identical replay
  const refused = await ro.client.request('POST', '/v1/referrals', { jws: `${jws.slice(0, -4)}AAAA` }).then(
    () => 200,
    (error: HubRequestError) => error.status,
  )
  t.equal(refused, 422, 'a tampered copy is refused')
  await de.client.request('GET', `/v1/referrals/${created.id}`)
  await de.client.request('GET', '/v1/referrals?role=received')
  await ro.client.request('GET', `/v1/referrals/${created.id}/audit`)
  await seal(app)
  await operator.client.request('GET', `/v1/audit?referralId=${created.id}`)
  await seal(app)

  const events = await sql<{
    row: string
  }>`select row_to_json(e)::text as row from audit_events e order by id`.execute(app.db)
  const checkpoints = await sql<{
    row: string
  }>`select row_to_json(c)::text as row from audit_checkpoints c`.execute(app.db)
  const stored = [...events.rows, ...checkpoints.rows].map((r) => r.row).join('\n')
  t.ok(events.rows.length >= 10, `the run left ${events.rows.length} events`)
  t.match(stored, created.id, 'the log does name the referral')

  const secrets: [string, string][] = [
    ['the linkage token', linkageToken],
    ['the CANARY prefix', 'CANARY'],
    ['the encrypted details', sensitive],
    ["the JWE's ciphertext", sensitive.split('.')[3]!],
    ['the signed document', jws],
    ["the JWS's payload", jws.split('.')[1]!],
    ["the JWS's signature", jws.split('.')[2]!],
  ]
  for (const [name, secret] of secrets) {
    t.notOk(stored.includes(secret), `${name} is not in audit_events or audit_checkpoints`)
    t.notOk(logs.text.includes(secret), `${name} is not in the app log`)
  }
})
