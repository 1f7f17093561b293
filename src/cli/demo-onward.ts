import { randomUUID } from 'node:crypto'
import type { JWK } from 'jose'
import type { Kysely } from 'kysely'
import type { Database } from '../db/types.js'
import type { AgencyCreate } from '../modules/agencies/agencies.schemas.js'
import { createAgency } from '../modules/agencies/agencies.service.js'
import { decryptSensitive, encryptSensitive, signReferral, verifyAgencySignature } from '../sdk/documents.js'
import { HubClient } from '../sdk/hub-client.js'
import { type AgencyKeys, generateAgencyKeys } from '../sdk/keys.js'

interface InboxItem {
  type: string
  referralId: string
  jws?: string
  body?: { agency?: { id: string; country: string; kind: string } }
}
type Inbox = { items: InboxItem[] }

/** The signed document inside a compact JWS (already verified by the caller). */
const payloadOf = (jws: string): { sensitive?: string } =>
  JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString('utf8'))

export interface OnwardDemo {
  baseUrl: string
  db: Kysely<Database>
  dbConfig: Parameters<typeof createAgency>[0]['config']
  suffix: string
  say: (step: string, detail?: string) => void
  /** The recipient of the first referral (the national contact point), which hands the case on. */
  forwarder: { id: string; client: HubClient; keys: AgencyKeys }
  /** The first referral's sender, which is told who took the case on. */
  firstSender: { client: HubClient }
  parent: { id: string; victimReference: string; document: { victim: object; sensitive: string } }
}

/**
 * The second half of `trm demo`: the national contact point hands the (received) case on to an NGO
 * in its country. It decrypts the `sensitive` member with its own key and encrypts it again to the
 * NGO (the hub sees neither), signs a referral with `onwardOf`, and the first sender reads in its
 * inbox which agency took the case on. Answers whether every step checked out.
 */
export async function demoOnward(demo: OnwardDemo): Promise<boolean> {
  const ngoKeys = await generateAgencyKeys()
  const ngo = await createAgency(
    { db: demo.db, config: demo.dbConfig },
    {
      name: `Demo DE NGO ${demo.suffix} (fictional)`,
      country: 'DE',
      kind: 'ngo',
      nationalContactPoint: false,
      jwks: ngoKeys.publicJwks as AgencyCreate['jwks'],
    },
    { agencyId: 'trm-demo' },
  )
  demo.say('registered a DE NGO to take the case on', `DE NGO ${ngo.id}`)

  const details = await decryptSensitive(demo.parent.document.sensitive, demo.forwarder.keys.encryption)
  const ngoEnc = ngoKeys.publicJwks.keys.find((k) => k.use === 'enc')!
  const document = {
    ...demo.parent.document,
    id: randomUUID(),
    sender: demo.forwarder.id,
    recipient: { agencyId: ngo.id },
    onwardOf: demo.parent.id,
    createdAt: new Date().toISOString(),
    victim: { ...demo.parent.document.victim, reference: demo.parent.victimReference },
    sensitive: await encryptSensitive(details, ngoEnc),
  }
  const forwarded = await demo.forwarder.client.request<{ status: string }>('POST', '/v1/referrals', {
    jws: await signReferral(document, demo.forwarder.keys.signing),
  })
  demo.say(
    'DE handed the case on to the NGO (onwardOf the first referral)',
    `sensitive details decrypted by DE and encrypted again to the NGO; status ${forwarded.status}`,
  )

  const ngoClient = new HubClient({ baseUrl: demo.baseUrl, agencyId: ngo.id, signingKey: ngoKeys.signing })
  const ngoInbox = await ngoClient.request<Inbox>('GET', '/v1/inbox?wait=20')
  const arrived = ngoInbox.items.find((m) => m.referralId === document.id)?.jws
  if (!arrived) return false
  const deJwks = await ngoClient.request<{ keys: JWK[] }>(
    'GET',
    `/v1/agencies/${demo.forwarder.id}/jwks.json`,
  )
  await verifyAgencySignature(arrived, deJwks)
  const sensitive = payloadOf(arrived).sensitive
  if (!sensitive) return false
  await decryptSensitive(sensitive, ngoKeys.encryption)
  demo.say(
    "the NGO's inbox holds it",
    "DE's signature verified; the NGO decrypts the details with its own key",
  )

  const first = await demo.firstSender.client.request<Inbox>('GET', '/v1/inbox?limit=200')
  const notice = first.items.find((m) => m.type === 'onward_referral' && m.referralId === demo.parent.id)
  const view = await demo.firstSender.client.request<{ onward: unknown[] }>(
    'GET',
    `/v1/referrals/${demo.parent.id}`,
  )
  const agency = notice?.body?.agency
  demo.say(
    "RO's inbox says who took the case on",
    `${agency?.kind} ${agency?.id} in ${agency?.country}; links below RO's referral: ${view.onward.length}`,
  )
  return agency?.id === ngo.id && view.onward.length === 1
}
