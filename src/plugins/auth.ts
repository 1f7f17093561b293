import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import type { AgencyRow } from '../db/types.js'
import { HubError } from '../lib/errors.js'
import { findAgency } from '../modules/agencies/agencies.repository.js'
import { verifyAccessToken } from '../modules/auth/access-token.js'
import type { Scope } from '../modules/auth/auth.core.js'

export interface Caller {
  id: string
  kind: string
  country: string
  nationalContactPoint: boolean
  operator: boolean
  scopes: Scope[]
}

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook: a valid hub access token of an active agency holding every scope named. */
    authorize(...scopes: Scope[]): onRequestHookHandler
  }
  interface FastifyRequest {
    caller: Caller
  }
}

/** A suspended agency's tokens stop working within this time (the directory is re-read after it). */
const AGENCY_CACHE_MS = 10_000

export default fp(
  async function auth(app) {
    const cache = new Map<string, { row: AgencyRow | undefined; at: number }>()
    const lookup = async (id: string) => {
      const hit = cache.get(id)
      if (hit && Date.now() - hit.at < AGENCY_CACHE_MS) return hit.row
      const row = await findAgency(app.db, id)
      if (cache.size > 10_000) cache.clear()
      cache.set(id, { row, at: Date.now() })
      return row
    }
    const unauthenticated = () =>
      new HubError('TRM_AUTH_UNAUTHENTICATED', 'A valid access token is required.', {
        headers: { 'www-authenticate': 'Bearer realm="trm-hub"' },
      })

    app.decorateRequest('caller', null as unknown as Caller)
    app.decorate('authorize', (...scopes: Scope[]) => {
      return async function authorizeRequest(request: FastifyRequest, _reply: FastifyReply) {
        const header = request.headers.authorization
        const match = header?.match(/^Bearer ([A-Za-z0-9._~+/=-]+)$/)
        if (!match) {
          request.log.info({ reason: 'no bearer token' }, 'authentication failed')
          throw unauthenticated()
        }
        const verified = await verifyAccessToken(app.hubKeys, app.config.publicUrl, match[1]!, new Date())
        if ('reason' in verified) {
          request.log.info({ reason: verified.reason }, 'authentication failed')
          throw unauthenticated()
        }
        const agency = await lookup(verified.agencyId)
        if (agency?.status !== 'active') {
          request.log.info(
            { reason: 'agency not active', agencyId: verified.agencyId },
            'authentication failed',
          )
          throw unauthenticated()
        }
        request.caller = {
          id: agency.id,
          kind: agency.kind,
          country: agency.country,
          nationalContactPoint: agency.national_contact_point,
          operator: agency.kind === 'hub_operator',
          scopes: verified.scopes,
        }
        const missing = scopes.filter((s) => !verified.scopes.includes(s))
        if (missing.length > 0) {
          throw new HubError('TRM_AUTH_FORBIDDEN', `This call needs the scope ${missing.join(', ')}.`)
        }
      }
    })
  },
  { name: 'trm-auth', dependencies: ['trm-db'] },
)
