import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { IdParams, problems, secured } from '../../lib/schemas.js'
import type { AgencyCreate, AgencyPatch, PublicJwk } from './agencies.schemas.js'
import { AgencyListQuerySchema, KeyParamsSchema } from './agencies.schemas.js'
import * as directory from './agencies.service.js'

// The directory cache of this process forgets an agency it changes; other processes re-read it
// within the cache's lifetime, and a referral re-checks the rows it relies on when it is written.
export const agenciesRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const deps = { db: app.db, config: app.config }
  const actor = (request: { caller: { id: string; operator: boolean }; id: unknown }) => ({
    agencyId: request.caller.id,
    operator: request.caller.operator,
    requestId: String(request.id),
  })

  app.post(
    '/v1/agencies',
    {
      onRequest: app.authorize('agencies:admin'),
      schema: {
        operationId: 'createAgency',
        tags: ['directory'],
        summary: 'Register an agency with its public keys (operator)',
        security: secured('agencies:admin'),
        body: Type.Ref('AgencyCreate'),
        response: { 201: Type.Ref('Agency'), ...problems(400, 401, 403, 409, 413, 415, 429) },
      },
    },
    async (request, reply) => {
      const agency = await directory.createAgency(deps, request.body as AgencyCreate, actor(request))
      return reply
        .code(201)
        .header('location', `/v1/agencies/${agency.id}`)
        .send(agency as never)
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
        response: { 200: Type.Ref('AgencyPage'), ...problems(400, 401, 403, 429) },
      },
    },
    async (request) => directory.listAgencies(deps, request.query as never) as never,
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
        response: { 200: Type.Ref('Agency'), ...problems(400, 401, 403, 404, 429) },
      },
    },
    async (request) => directory.getAgency(deps, request.params.id) as never,
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
        response: { 200: Type.Ref('AgencyJwks'), ...problems(400, 401, 403, 404, 429) },
      },
    },
    async (request) => (await directory.getAgency(deps, request.params.id)).jwks as never,
  )

  app.patch(
    '/v1/agencies/:id',
    {
      onRequest: app.authorize('directory:read'),
      schema: {
        operationId: 'updateAgency',
        tags: ['directory'],
        summary: 'Change an agency (operator: anything; the agency itself: its delivery settings)',
        security: secured('directory:read'),
        params: IdParams,
        body: Type.Ref('AgencyPatch'),
        response: { 200: Type.Ref('Agency'), ...problems(400, 401, 403, 404, 409, 415, 429) },
      },
    },
    async (request) => {
      const agency = await directory.patchAgency(
        deps,
        request.params.id,
        request.body as AgencyPatch,
        actor(request),
      )
      app.directory.forget(request.params.id)
      return agency as never
    },
  )

  app.post(
    '/v1/agencies/:id/keys',
    {
      onRequest: app.authorize('directory:read'),
      schema: {
        operationId: 'addAgencyKey',
        tags: ['directory'],
        summary: 'Add a public key (operator or the agency itself)',
        security: secured('directory:read'),
        params: IdParams,
        body: Type.Ref('PublicJwk'),
        response: { 201: Type.Ref('RegisteredKey'), ...problems(400, 401, 403, 404, 409, 415, 429) },
      },
    },
    async (request, reply) => {
      const key = await directory.addKey(deps, request.params.id, request.body as PublicJwk, actor(request))
      app.directory.forget(request.params.id)
      return reply.code(201).send(key as never)
    },
  )

  app.delete(
    '/v1/agencies/:id/keys/:kid',
    {
      onRequest: app.authorize('directory:read'),
      schema: {
        operationId: 'revokeAgencyKey',
        tags: ['directory'],
        summary: 'Revoke a key; it stays listed as revoked so old signatures remain checkable',
        security: secured('directory:read'),
        params: KeyParamsSchema,
        response: { 200: Type.Ref('RegisteredKey'), ...problems(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      const key = await directory.revokeKey(deps, request.params.id, request.params.kid, actor(request))
      app.directory.forget(request.params.id)
      return key as never
    },
  )
}
