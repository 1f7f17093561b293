// Type-checked against the client types generated from openapi/openapi.json by openapi-client.test.ts:
// if the document and the API drift apart, this file stops compiling.
import createClient from 'openapi-fetch'
import { createClientAssertion } from '../../src/sdk/client-assertion.js'
import type { AgencyKeys } from '../../src/sdk/keys.js'
import type { paths } from './generated/api.js'

export type HubApi = ReturnType<typeof createClient<paths>>

/** An agency's client generated from the OpenAPI document, authenticated with private_key_jwt. */
export async function agencyClient(
  baseUrl: string,
  agencyId: string,
  keys: AgencyKeys,
  tokenAudience = `${baseUrl}/v1/oauth/token`,
): Promise<HubApi> {
  const client = createClient<paths>({ baseUrl })
  const assertion = await createClientAssertion(agencyId, keys.signing, tokenAudience)
  const { data, error } = await client.POST('/v1/oauth/token', {
    body: {
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    },
    bodySerializer: (body) => new URLSearchParams(body as Record<string, string>).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  })
  if (error || !data) throw new Error(`token refused: ${JSON.stringify(error)}`)
  client.use({
    onRequest({ request }) {
      request.headers.set('authorization', `Bearer ${data.access_token}`)
      return request
    },
  })
  return client
}

export async function submit(client: HubApi, jws: string) {
  const { data, error, response } = await client.POST('/v1/referrals', { body: { jws } })
  if (error || !data) throw new Error(`submit failed ${response.status}: ${JSON.stringify(error)}`)
  return data
}

export async function pollInbox(client: HubApi, wait: number, after?: string) {
  const { data, error } = await client.GET('/v1/inbox', {
    params: { query: { wait, ...(after ? { after } : {}) } },
  })
  if (error || !data) throw new Error(`inbox failed: ${JSON.stringify(error)}`)
  return data
}

export async function confirm(client: HubApi, through: string) {
  const { data, error } = await client.POST('/v1/inbox/confirm', { body: { through } })
  if (error || !data) throw new Error(`confirm failed: ${JSON.stringify(error)}`)
  return data.confirmed
}

export async function acknowledge(client: HubApi, referralId: string, jws: string) {
  const { data, error } = await client.POST('/v1/referrals/{id}/acknowledgements', {
    params: { path: { id: referralId } },
    body: { jws },
  })
  if (error || !data) throw new Error(`acknowledgement failed: ${JSON.stringify(error)}`)
  return data
}

export async function referral(client: HubApi, id: string) {
  const { data, error } = await client.GET('/v1/referrals/{id}', { params: { path: { id } } })
  if (error || !data) throw new Error(`read failed: ${JSON.stringify(error)}`)
  return data
}

export async function agencyJwks(client: HubApi, id: string) {
  const { data, error } = await client.GET('/v1/agencies/{id}/jwks.json', { params: { path: { id } } })
  if (error || !data) throw new Error(`jwks failed: ${JSON.stringify(error)}`)
  return data
}
