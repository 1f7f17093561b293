import { randomUUID } from 'node:crypto'
import type { JWK } from 'jose'
import { loadDatabaseConfig } from '../config.js'
import { createDb } from '../db/create-db.js'
import { connectionReason, postgresAddress } from '../lib/connection-errors.js'
import { findNationalContactPoint } from '../modules/agencies/agencies.repository.js'
import type { AgencyCreate } from '../modules/agencies/agencies.schemas.js'
import { createAgency } from '../modules/agencies/agencies.service.js'
import {
  encryptSensitive,
  signAcknowledgement,
  signReferral,
  verifyAgencySignature,
  verifyReceipt,
} from '../sdk/documents.js'
import { HubClient, HubRequestError } from '../sdk/hub-client.js'
import { generateAgencyKeys } from '../sdk/keys.js'
import { demoOnward } from './demo-onward.js'
import { EXIT } from './usage.js'

type Json = Record<string, any>

/** The hub's public keys, or one sentence saying why the hub at `baseUrl` is not there. */
async function fetchHubJwks(baseUrl: string): Promise<{ keys: JWK[] }> {
  let response: Response
  try {
    response = await fetch(`${baseUrl}/.well-known/jwks.json`)
  } catch (error) {
    throw new Error(
      `no hub answers at ${baseUrl} (${connectionReason(error)}): start one with \`npm run dev\` ` +
        'in another terminal, or give its address with --url',
    )
  }
  const body = (await response.json().catch(() => undefined)) as { keys?: Json[] } | undefined
  if (!response.ok || !Array.isArray(body?.keys)) {
    throw new Error(
      `${baseUrl} answered ${response.status} to /.well-known/jwks.json, not a hub's keys: is --url the hub's address?`,
    )
  }
  return body as { keys: Json[] }
}

/** Database and schema, as the user set them, without credentials. */
const databaseName = (config: { databaseUrl: string; databaseSchema: string | undefined }) =>
  `Postgres ${postgresAddress(config.databaseUrl)} schema ${config.databaseSchema ?? 'public'}`

const say = (step: string, detail = '') =>
  process.stdout.write(`✔ ${step}${detail ? `\n    ${detail}` : ''}\n`)

/**
 * `trm demo`: two fresh agencies (an NGO in RO and the national contact point in DE, registered in the
 * database as `trm agencies add` does), one referral, the long-poll, and two acknowledgements, each
 * signature verified the way an agency's own system would; then DE hands the case on to a DE NGO
 * (demo-onward.ts). Invented data only.
 */
export async function demoCommand({ url }: { url: string }): Promise<number> {
  const baseUrl = url.replace(/\/+$/, '')
  const dbConfig = loadDatabaseConfig()
  const hubJwks = await fetchHubJwks(baseUrl)
  const { db } = createDb(dbConfig, 'trm-demo')
  try {
    say('hub reached', `${baseUrl}, ${hubJwks.keys.length} hub signing key(s)`)
    const suffix = randomUUID().slice(0, 6)
    const roKeys = await generateAgencyKeys()
    const deKeys = await generateAgencyKeys()
    const register = (
      name: string,
      country: string,
      kind: 'ngo' | 'national_agency',
      ncp: boolean,
      keys: typeof roKeys,
    ) =>
      createAgency(
        { db, config: dbConfig },
        { name, country, kind, nationalContactPoint: ncp, jwks: keys.publicJwks as AgencyCreate['jwks'] },
        { agencyId: 'trm-demo' },
      )
    const ro = await register(`Demo NGO ${suffix} (fictional)`, 'RO', 'ngo', false, roKeys)
    const deHasNcp = (await findNationalContactPoint(db, 'DE')) !== undefined
    const de = await register(
      `Demo DE agency ${suffix} (fictional)`,
      'DE',
      'national_agency',
      !deHasNcp,
      deKeys,
    )
    say(
      'registered two agencies',
      `RO NGO ${ro.id}\n    DE ${deHasNcp ? 'agency' : 'national contact point'} ${de.id}`,
    )

    // The hub's token audience is its PUBLIC_URL; the hub says which in its OpenAPI document's token URL.
    const roClient = new HubClient({ baseUrl, agencyId: ro.id, signingKey: roKeys.signing })
    const deClient = new HubClient({ baseUrl, agencyId: de.id, signingKey: deKeys.signing })
    await Promise.all([roClient.accessToken(), deClient.accessToken()]).catch((error: unknown) => {
      if (!(error instanceof HubRequestError) || error.status !== 401) throw error
      throw new Error(
        `the hub at ${baseUrl} does not know the agencies the demo registered in ${databaseName(dbConfig)}: ` +
          'run the demo with the DATABASE_URL and DATABASE_SCHEMA the hub uses (`npm run demo` uses those of `npm run dev`)',
      )
    })
    say('both agencies hold access tokens (private_key_jwt)')

    const poll = deClient.request<{ items: Json[] }>('GET', '/v1/inbox?wait=20')
    const deEnc = deKeys.publicJwks.keys.find((k) => k.use === 'enc')!
    const document = {
      id: randomUUID(),
      sender: ro.id,
      recipient: deHasNcp ? { agencyId: de.id } : { country: 'DE' },
      createdAt: new Date().toISOString(),
      urgency: 'urgent',
      stage: 'first_assistance',
      victim: {
        status: 'presumed',
        ageGroup: '24-26',
        minor: false,
        gender: 'female',
        citizenship: ['RO'],
        languages: ['ro'],
      },
      exploitation: { forms: ['forced_labour'], countries: ['DE'], identifiedIn: 'DE' },
      needs: ['accommodation', 'interpretation'],
      consent: {
        status: 'given',
        scope: ['assistance', 'onward_sharing'],
        recordedAt: new Date().toISOString(),
        byGuardian: false,
      },
      sensitive: await encryptSensitive({ note: 'Invented demo details; nobody real.' }, deEnc),
    }
    const submitted = await roClient.request<Json>('POST', '/v1/referrals', {
      jws: await signReferral(document, roKeys.signing),
    })
    const receipt = await verifyReceipt(submitted['receipt'], hubJwks)
    say(
      'RO submitted a signed referral',
      `status ${submitted['status']}, victim reference ${submitted['victimReference']}`,
    )
    say('hub receipt verified with the hub JWKS', `payload SHA-256 ${receipt.payloadSha256}`)

    const inbox = await poll
    const message = inbox.items.find((m) => m['referralId'] === document.id)!
    const roJwks = await deClient.request<{ keys: JWK[] }>('GET', `/v1/agencies/${ro.id}/jwks.json`)
    await verifyAgencySignature(message['jws'], roJwks)
    say("DE's long-poll returned the referral", "RO's signature verified against the directory")
    await deClient.request('POST', '/v1/inbox/confirm', { through: message['cursor'] })
    say('DE confirmed delivery')

    const deJwks = await roClient.request<{ keys: JWK[] }>('GET', `/v1/agencies/${de.id}/jwks.json`)
    for (const type of ['received', 'accepted']) {
      const ack = { id: randomUUID(), referralId: document.id, type, createdAt: new Date().toISOString() }
      const result = await deClient.request<Json>('POST', `/v1/referrals/${document.id}/acknowledgements`, {
        jws: await signAcknowledgement(ack, deKeys.signing),
      })
      say(`DE acknowledged ${type}`, `referral is now ${result['status']}`)
    }
    const roInbox = await roClient.request<{ items: Json[] }>('GET', '/v1/inbox?limit=200')
    for (const item of roInbox.items.filter((m) => m['referralId'] === document.id)) {
      if (item['jws']) await verifyAgencySignature(item['jws'], deJwks)
    }
    const final = await roClient.request<Json>('GET', `/v1/referrals/${document.id}`)
    say("RO's inbox holds each answer; DE's signatures verified", `final state: ${final['status']}`)
    const handedOn = await demoOnward({
      baseUrl,
      db,
      dbConfig,
      suffix,
      say,
      forwarder: { id: de.id, client: deClient, keys: deKeys },
      firstSender: { client: roClient },
      parent: { id: document.id, victimReference: submitted['victimReference'], document },
    })
    return final['status'] === 'accepted' && handedOn ? EXIT.ok : EXIT.failedCheck
  } finally {
    await db.destroy()
  }
}
