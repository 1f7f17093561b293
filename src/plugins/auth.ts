import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { HubError } from '../lib/errors.js'
import type { Scope } from '../modules/agencies/scopes.core.js'
import { AccessTokenVerifier } from '../modules/auth/access-token.js'

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

export default fp(
  async function auth(app) {
    // A suspended agency's tokens stop working within the directory cache's lifetime (10 s), and its
    // referrals at once (the statement that stores one re-checks the sender).
    const tokens = new AccessTokenVerifier(app.hubKeys, app.config.publicUrl)
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
        const verified = await tokens.verify(match[1]!, new Date())
        if ('reason' in verified) {
          request.log.info({ reason: verified.reason }, 'authentication failed')
          throw unauthenticated()
        }
        const agency = await app.directory.agency(verified.agencyId)
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
