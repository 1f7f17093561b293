import type { FastifyInstance } from 'fastify'
import type { AgencyKind } from '../../src/modules/agencies/agencies.schemas.js'
import { createAgency } from '../../src/modules/agencies/agencies.service.js'
import { HubClient } from '../../src/sdk/hub-client.js'
import { type AgencyKeys, generateAgencyKeys, type SigningAlg } from '../../src/sdk/keys.js'

/** A fetch that goes through Fastify's inject: no port needed, real HTTP semantics. */
export function injectFetch(app: FastifyInstance): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input))
    const response = await app.inject({
      method: (init?.method ?? 'GET') as 'GET',
      url: url.pathname + url.search,
      headers: init?.headers as Record<string, string>,
      ...(init?.body ? { payload: init.body as string } : {}),
    })
    return new Response(response.statusCode === 204 ? null : response.body, {
      status: response.statusCode,
      headers: response.headers as Record<string, string>,
    })
  }) as typeof fetch
}

export interface TestAgency {
  id: string
  keys: AgencyKeys
  client: HubClient
  country: string
}

let counter = 0

/** Registers an agency straight through the directory service (as `trm agencies add` does). */
export async function addAgency(
  app: FastifyInstance,
  options: {
    kind?: AgencyKind
    country?: string
    ncp?: boolean
    alg?: SigningAlg
    name?: string
    push?: string
  } = {},
): Promise<TestAgency> {
  const keys = await generateAgencyKeys(options.alg ?? 'ES256')
  counter += 1
  const agency = await createAgency(
    { db: app.db, config: app.config },
    {
      name: options.name ?? `Test agency ${counter} (fictional)`,
      country: options.country ?? 'RO',
      kind: options.kind ?? 'ngo',
      nationalContactPoint: options.ncp ?? false,
      delivery: options.push ? { mode: 'push', url: options.push } : { mode: 'pull' },
      jwks: keys.publicJwks as never,
    },
    { agencyId: 'test-setup' },
  )
  const client = new HubClient({
    baseUrl: app.config.publicUrl,
    agencyId: agency.id,
    signingKey: keys.signing,
    fetch: injectFetch(app),
  })
  return { id: agency.id, keys, client, country: agency.country }
}

/**
 * Revokes an agency's keys (of one use, or all) straight in the database, behind the hub's back:
 * as another hub process or an operator's SQL would, so no cache of this process hears of it.
 */
export async function revokeKeysDirectly(app: FastifyInstance, agencyId: string, use?: 'sig' | 'enc') {
  let query = app.db.updateTable('agency_keys').set({ status: 'revoked' }).where('agency_id', '=', agencyId)
  if (use) query = query.where('use', '=', use)
  await query.execute()
}
