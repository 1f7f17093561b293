import createClient from 'openapi-fetch'
import { HubClient, HubRequestError } from '../../../src/sdk/hub-client.js'
// The client types generated from openapi/openapi.json (`npm run openapi` keeps them in step with the
// API): the console talks to the public API only, through the same document integrators use.
import type { components, paths } from '../../../test/e2e/generated/api.js'
import type { Device } from './device.js'

export type Schemas = components['schemas']
export type Agency = Schemas['Agency']
export type ReferralView = Schemas['ReferralView']
export type ReferralSummary = Schemas['ReferralSummary']
export type InboxItem = Schemas['InboxItem']
export type AuditTrail = Schemas['ReferralAuditTrail']
export type AuditEvent = Schemas['AuditEvent']
export type AcknowledgementView = Schemas['AcknowledgementView']
export type Problem = Schemas['Problem']
export type HubJwks = Schemas['HubJwks']

/** A refused or failed call: the hub's RFC 9457 problem when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Partial<Problem> | undefined,
  ) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`)
  }
}

function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || result.data === undefined) {
    throw new ApiError(result.response.status, result.error as Partial<Problem> | undefined)
  }
  return result.data
}

/** The hub as this browser's agency sees it: tokens from the device's signing key, typed calls. */
export function connect(device: Device, origin = window.location.origin) {
  const tokens = new HubClient({
    baseUrl: origin,
    agencyId: device.agencyId,
    signingKey: device.signing,
    // A bare reference: window.fetch must not be called as a method of another object.
    fetch: (input, init) => fetch(input, init),
  })
  const api = createClient<paths>({ baseUrl: origin })
  api.use({
    async onRequest({ request }) {
      try {
        request.headers.set('authorization', `Bearer ${await tokens.accessToken()}`)
      } catch (error) {
        if (error instanceof HubRequestError) throw new ApiError(error.status, error.body as Problem)
        throw error
      }
      return request
    },
  })

  const agencies = new Map<string, Promise<Agency>>()
  let hubJwks: Promise<HubJwks> | undefined

  return {
    device,
    agency(id: string): Promise<Agency> {
      let found = agencies.get(id)
      if (!found) {
        found = api.GET('/v1/agencies/{id}', { params: { path: { id } } }).then(unwrap)
        found.catch(() => agencies.delete(id))
        agencies.set(id, found)
      }
      return found
    },
    async directory(query: { country?: string; nationalContactPoint?: boolean } = {}): Promise<Agency[]> {
      const page = unwrap(await api.GET('/v1/agencies', { params: { query: { limit: 200, ...query } } }))
      return page.items
    },
    hubJwks(): Promise<HubJwks> {
      hubJwks ??= api.GET('/.well-known/jwks.json').then(unwrap)
      return hubJwks
    },
    async referrals(): Promise<ReferralSummary[]> {
      return unwrap(await api.GET('/v1/referrals', { params: { query: { limit: 200 } } })).items
    },
    async referral(id: string): Promise<ReferralView> {
      return unwrap(await api.GET('/v1/referrals/{id}', { params: { path: { id } } }))
    },
    async trail(id: string): Promise<AuditTrail> {
      return unwrap(await api.GET('/v1/referrals/{id}/audit', { params: { path: { id } } }))
    },
    async submitReferral(jws: string) {
      return unwrap(await api.POST('/v1/referrals', { body: { jws } }))
    },
    async acknowledge(referralId: string, jws: string) {
      return unwrap(
        await api.POST('/v1/referrals/{id}/acknowledgements', {
          params: { path: { id: referralId } },
          body: { jws },
        }),
      )
    },
    /** One long-poll of the inbox: answers at once when something waits, else after up to `wait` s. */
    async inbox(wait: number, signal: AbortSignal) {
      return unwrap(await api.GET('/v1/inbox', { params: { query: { wait, limit: 50 } }, signal }))
    },
    async confirm(through: string) {
      return unwrap(await api.POST('/v1/inbox/confirm', { body: { through } }))
    },
  }
}

export type Hub = ReturnType<typeof connect>

/** The referral document's JSON Schema as the hub publishes it in its OpenAPI document. */
export async function fetchDocumentSchemas(): Promise<{
  referral: JsonSchema
  acknowledgement: JsonSchema
}> {
  const response = await fetch('/openapi.json')
  if (!response.ok) throw new ApiError(response.status, undefined)
  const document = (await response.json()) as { components: { schemas: Record<string, JsonSchema> } }
  const { ReferralDocument, AcknowledgementDocument } = document.components.schemas
  if (!ReferralDocument || !AcknowledgementDocument) throw new ApiError(500, undefined)
  return { referral: ReferralDocument, acknowledgement: AcknowledgementDocument }
}

export interface JsonSchema {
  type?: string
  enum?: string[]
  properties?: Record<string, JsonSchema>
  required?: string[]
  items?: JsonSchema
  anyOf?: JsonSchema[]
  pattern?: string
  format?: string
  minItems?: number
  maxItems?: number
  maxLength?: number
  description?: string
}
