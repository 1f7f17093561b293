import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { HubError } from '../../lib/errors.js'
import { IdParams, problems, Ref, secured } from '../../lib/schemas.js'
import {
  AgencyCreateSchema,
  AgencyJwksSchema,
  AgencyListQuerySchema,
  AgencyPageSchema,
  AgencyPatchSchema,
  AgencySchema,
  KeyParamsSchema,
  PublicJwkSchema,
  RegisteredKeySchema,
} from './agencies.schemas.js'
import * as directory from './agencies.service.js'
import type { Scope } from './scopes.core.js'

// The directory cache of this process forgets an agency it changes; other processes re-read it
// within the cache's lifetime, and a referral re-checks the rows it relies on when it is written.
export const agenciesRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const deps = { db: app.db, config: app.config }
  const actor = (request: FastifyRequest) => ({
    agencyId: request.caller.id,
    operator: request.caller.operator,
    scopes: request.caller.scopes,
    requestId: String(request.id),
  })
  // Changes to an agency: its own delivery and keys with agency:write, anything else with
  // agencies:admin (the service decides which applies); a token with neither stops here, unread.
  const changesAgency = [app.authorize(), anyScope('agency:write', 'agencies:admin')]
  const changesAgencySecurity = [...secured('agency:write'), ...secured('agencies:admin')]
  // A token with agencies:admin is an operator's; its kind is checked too, at the time of the call.
  const operatorOnly = [app.authorize('agencies:admin'), operator]

  app.post(
    '/v1/agencies',
    {
      onRequest: operatorOnly,
      schema: {
        operationId: 'createAgency',
        tags: ['directory'],
        summary: 'Register an agency with its public keys (operator)',
        security: secured('agencies:admin'),
        body: Ref(AgencyCreateSchema),
        response: { 201: Ref(AgencySchema), ...problems(400, 401, 403, 409, 413, 415, 429) },
      },
    },
    async (request, reply) => {
      const agency = await directory.createAgency(deps, request.body, actor(request))
      return reply.code(201).header('location', `/v1/agencies/${agency.id}`).send(agency)
    },
  )

  app.get(
    '/v1/agencies',
    {
      onRequest: app.authorize('directory:read'),
      schema: {
        operationId: 'listAgencies',
        tags: ['directory'],
        summary: 'The directory, filtered by country, kind and NCP flag, cursor-paged',
        security: secured('directory:read'),
        querystring: AgencyListQuerySchema,
        response: { 200: Ref(AgencyPageSchema), ...problems(400, 401, 403, 429) },
      },
    },
    async (request) => directory.listAgencies(deps, request.query),
  )

  app.get(
    '/v1/agencies/:id',
    {
      onRequest: app.authorize('directory:read'),
      schema: {
        operationId: 'getAgency',
        tags: ['directory'],
        summary: 'One agency with its keys (revoked keys stay listed, with the time of revocation)',
        security: secured('directory:read'),
        params: IdParams,
        response: { 200: Ref(AgencySchema), ...problems(400, 401, 403, 404, 429) },
      },
    },
    async (request) => directory.getAgency(deps, request.params.id),
  )

  app.get(
    '/v1/agencies/:id/jwks.json',
    {
      onRequest: app.authorize('directory:read'),
      schema: {
        operationId: 'getAgencyJwks',
        tags: ['directory'],
        summary: "An agency's public keys as a JWKS, to verify its signatures",
        security: secured('directory:read'),
        params: IdParams,
        response: { 200: Ref(AgencyJwksSchema), ...problems(400, 401, 403, 404, 429) },
      },
    },
    async (request) => (await directory.getAgency(deps, request.params.id)).jwks,
  )

  app.patch(
    '/v1/agencies/:id',
    {
      onRequest: changesAgency,
      schema: {
        operationId: 'updateAgency',
        tags: ['directory'],
        summary: 'Change an agency (operator: anything; the agency itself: its delivery settings)',
        description:
          'The agency itself changes its `delivery` with the scope `agency:write`. Anything else (another ' +
          'agency, its name, kind, national contact point flag or status) is for an operator whose token ' +
          'carries `agencies:admin`. A token without the scope it needs gets 403 naming it.',
        security: changesAgencySecurity,
        params: IdParams,
        body: Ref(AgencyPatchSchema),
        response: { 200: Ref(AgencySchema), ...problems(400, 401, 403, 404, 409, 415, 429) },
      },
    },
    async (request) => {
      const agency = await directory.patchAgency(deps, request.params.id, request.body, actor(request))
      app.directory.forget(request.params.id)
      return agency
    },
  )

  app.post(
    '/v1/agencies/:id/keys',
    {
      onRequest: changesAgency,
      schema: {
        operationId: 'addAgencyKey',
        tags: ['directory'],
        summary: 'Add a public key (the agency itself with agency:write, an operator with agencies:admin)',
        security: changesAgencySecurity,
        params: IdParams,
        body: Ref(PublicJwkSchema),
        response: { 201: Ref(RegisteredKeySchema), ...problems(400, 401, 403, 404, 409, 415, 429) },
      },
    },
    async (request, reply) => {
      const key = await directory.addKey(deps, request.params.id, request.body, actor(request))
      app.directory.forget(request.params.id)
      return reply.code(201).send(key)
    },
  )

  app.delete(
    '/v1/agencies/:id/keys/:kid',
    {
      onRequest: changesAgency,
      schema: {
        operationId: 'revokeAgencyKey',
        tags: ['directory'],
        summary: 'Revoke a key; it stays listed as revoked so old signatures remain checkable',
        description:
          'The agency itself with the scope `agency:write`; any agency an operator with `agencies:admin`.',
        security: changesAgencySecurity,
        params: KeyParamsSchema,
        response: { 200: Ref(RegisteredKeySchema), ...problems(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      const key = await directory.revokeKey(deps, request.params.id, request.params.kid, actor(request))
      app.directory.forget(request.params.id)
      return key
    },
  )
}

/** onRequest, after `authorize()`: the token carries at least one of these scopes. */
function anyScope(...scopes: Scope[]) {
  return async function requireAnyScope(request: FastifyRequest) {
    if (!scopes.some((scope) => request.caller.scopes.includes(scope))) {
      throw new HubError('TRM_AUTH_FORBIDDEN', `This call needs the scope ${scopes.join(' or ')}.`)
    }
  }
}

/** onRequest, after `authorize()`: the caller is an operator agency (by its kind, as the directory says now). */
async function operator(request: FastifyRequest) {
  if (!request.caller.operator) throw new HubError('TRM_AUTH_FORBIDDEN', 'Only an operator may do this.')
}
