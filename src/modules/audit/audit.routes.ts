import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { IdParams, problems, secured } from '../../lib/schemas.js'
import { latestCheckpoint, listAuditEvents, referralAuditTrail } from './audit.read.js'
import { AuditListQuerySchema } from './audit.schemas.js'

export const auditRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const deps = { db: app.db }

  app.get(
    '/v1/audit',
    {
      onRequest: app.authorize('audit:read'),
      schema: {
        operationId: 'listAuditEvents',
        tags: ['audit'],
        summary: 'Sealed audit events by seq: your own and those about your referrals (operators: all)',
        description:
          'Events appear here once sealed into the hash chain, within seconds of the action. Filter by ' +
          'referralId and action; page with the opaque cursor in `next`.',
        security: secured('audit:read'),
        querystring: AuditListQuerySchema,
        response: { 200: Type.Ref('AuditPage'), ...problems(400, 401, 403, 429) },
      },
    },
    async (request) => listAuditEvents(deps, request.caller, request.query, String(request.id)) as never,
  )

  app.get(
    '/v1/audit/checkpoint',
    {
      onRequest: app.authorize('audit:read'),
      schema: {
        operationId: 'getAuditCheckpoint',
        tags: ['audit'],
        summary: 'The latest hub-signed checkpoint { seq, hash, at } of the audit chain',
        security: secured('audit:read'),
        response: { 200: Type.Ref('AuditCheckpoint'), ...problems(401, 403, 404, 429) },
      },
    },
    async () => latestCheckpoint(deps) as never,
  )

  app.get(
    '/v1/referrals/:id/audit',
    {
      onRequest: app.authorize('audit:read'),
      schema: {
        operationId: 'getReferralAudit',
        tags: ['audit'],
        summary: 'The audit trail of one referral and the checkpoint covering its last event (parties only)',
        security: secured('audit:read'),
        params: IdParams,
        response: { 200: Type.Ref('ReferralAuditTrail'), ...problems(400, 401, 403, 404, 429) },
      },
    },
    async (request) =>
      referralAuditTrail(deps, request.params.id, request.caller.id, String(request.id)) as never,
  )
}
