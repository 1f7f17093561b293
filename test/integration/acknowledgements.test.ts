import t from 'tap'
import {
  ACK_TYPES,
  CONSENT_ACK_TYPES,
  REFERRAL_STATUSES,
  RULES,
} from '../../src/modules/referrals/lifecycle.core.js'
import { signAcknowledgement, verifyReceipt } from '../../src/sdk/documents.js'
import { HubRequestError } from '../../src/sdk/hub-client.js'
import { addAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { inboxUntil } from '../helpers/inbox.js'
import { acknowledge, acknowledgement, referralIn } from '../helpers/lifecycle.js'
import { writeCounts } from '../helpers/referrals.js'

type Json = Record<string, any>
const attempt = async (promise: Promise<Json>) => {
  try {
    return { status: 201, body: await promise }
  } catch (error) {
    if (error instanceof HubRequestError) return { status: error.status, body: error.body as Json }
    throw error
  }
}

const STATES = REFERRAL_STATUSES

t.test('the lifecycle through the API', async (t) => {
  const { app } = await buildTestApp(t)
  const sender = await addAgency(app, { country: 'RO' })
  const recipient = await addAgency(app, { country: 'DE', kind: 'national_agency' })
  const hubJwks = (await app.inject('/.well-known/jwks.json')).json()

  for (const state of STATES) {
    t.test(`from ${state}`, async (t) => {
      const status = async (id: string) =>
        (await sender.client.request<Json>('GET', `/v1/referrals/${id}`))['status'] as string
      const refusedId = await referralIn(state, sender, recipient)
      t.equal(await status(refusedId), state, 'reached through the API')
      for (const type of ACK_TYPES) {
        // Consent acknowledgements change no state (test/integration/consent-withdrawal.test.ts).
        if (CONSENT_ACK_TYPES.has(type)) continue
        for (const party of ['sender', 'recipient'] as const) {
          const rule = RULES[type]
          const allowed = rule.by === party && rule.from.includes(state as never)
          const agency = party === 'sender' ? sender : recipient
          const id = allowed ? await referralIn(state, sender, recipient) : refusedId
          const before = allowed ? undefined : await writeCounts(app)
          const result = await attempt(acknowledge(agency, id, type))
          if (allowed) {
            t.equal(result.status, 201, `${type} by ${party}`)
            t.equal(result.body['status'], rule.to)
            t.equal(await status(id), rule.to)
            const receipt = await verifyReceipt(result.body['receipt'], hubJwks)
            t.equal((receipt as Json)['referralId'], id)
            const other = party === 'sender' ? recipient : sender
            const told = (m: Json) =>
              m['type'] === 'acknowledgement' && m['acknowledgementId'] === result.body['id']
            t.ok((await inboxUntil(other, (items) => items.some(told))).some(told), 'the other party is told')
          } else {
            t.equal(result.status, rule.by === party ? 409 : 403, `${type} by ${party} refused`)
            t.equal(result.body['code'], rule.by === party ? 'TRM_INVALID_TRANSITION' : 'TRM_AUTH_FORBIDDEN')
            if (rule.by === party) t.match(result.body['detail'], new RegExp(`is ${state}`))
            t.same(await writeCounts(app), before, 'nothing written')
            t.equal(await status(refusedId), state)
          }
        }
      }
    })
  }

  t.test('a non-party gets 404; replays answer 200; the same id over another document is 422', async (t) => {
    const outsider = await addAgency(app, { country: 'FR' })
    const id = await referralIn('submitted', sender, recipient)
    const stranger = await attempt(acknowledge(outsider, id, 'received'))
    t.equal(stranger.status, 404)
    const document = acknowledgement(id, 'received')
    const jws = await signAcknowledgement(document, recipient.keys.signing)
    const first = await recipient.client.request<Json>('POST', `/v1/referrals/${id}/acknowledgements`, {
      jws,
    })
    const token = await recipient.client.accessToken()
    const replay = await app.inject({
      method: 'POST',
      url: `/v1/referrals/${id}/acknowledgements`,
      headers: { authorization: `Bearer ${token}` },
      payload: { jws },
    })
    t.equal(replay.statusCode, 200)
    t.equal(replay.json().receipt, first['receipt'])
    const other = await signAcknowledgement({ ...document, note: 'changed' }, recipient.keys.signing)
    const mismatch = await attempt(
      recipient.client.request<Json>('POST', `/v1/referrals/${id}/acknowledgements`, { jws: other }),
    )
    t.equal(mismatch.status, 422)
    t.equal(mismatch.body['code'], 'TRM_DUPLICATE_MISMATCH')
  })

  t.test(
    'document rules: referralId must match, declined needs a reason, a referral JWS is refused',
    async (t) => {
      const id = await referralIn('received', sender, recipient)
      const elsewhere = await attempt(
        recipient.client.request<Json>('POST', `/v1/referrals/${id}/acknowledgements`, {
          jws: await signAcknowledgement(
            acknowledgement(crypto.randomUUID(), 'accepted'),
            recipient.keys.signing,
          ),
        }),
      )
      t.equal(elsewhere.status, 422)
      t.same(elsewhere.body['errors'], [
        { pointer: '/referralId', detail: 'referralId must be the referral in the URL.' },
      ])
      const { reason: _reason, ...noReason } = acknowledgement(id, 'declined')
      const declined = await attempt(
        recipient.client.request<Json>('POST', `/v1/referrals/${id}/acknowledgements`, {
          jws: await signAcknowledgement(noReason, recipient.keys.signing),
        }),
      )
      t.equal(declined.status, 422)
      t.equal(declined.body['errors'][0].pointer, '/reason')
      const nameSlip = await attempt(
        recipient.client.request<Json>('POST', `/v1/referrals/${id}/acknowledgements`, {
          jws: await signAcknowledgement(
            { ...acknowledgement(id, 'accepted'), victimName: 'x' },
            recipient.keys.signing,
          ),
        }),
      )
      t.equal(nameSlip.status, 422)
      t.equal(nameSlip.body['errors'][0].pointer, '/victimName')
      t.equal(ACK_TYPES.length, 9)
    },
  )
})
