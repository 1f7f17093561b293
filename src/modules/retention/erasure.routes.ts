import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { DateTime, IdParams, problems, Ref, secured, Uuid } from '../../lib/schemas.js'
import { ERASURE_REASONS, eraseReferral } from './erasure.service.js'

export const ErasureRequestSchema = Type.Object(
  {
    reason: Type.Enum([...ERASURE_REASONS], {
      description: 'Why the payload is erased (a code, never free text)',
    }),
  },
  { $id: 'ErasureRequest', additionalProperties: false },
)
export const ErasureResultSchema = Type.Object(
  { id: Uuid, erased: Type.Literal(true), erasedAt: DateTime },
  { $id: 'ErasureResult' },
)

export const erasureRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const deps = { db: app.db, config: app.config, now: () => new Date() }
  app.post(
    '/v1/referrals/:id/erasure',
    {
      onRequest: app.authorize('referrals:write'),
      schema: {
        operationId: 'eraseReferral',
        tags: ['referrals'],
        summary: 'Erase the payload (JWS and JWE) of a referral; the skeleton and the audit trail remain',
        description:
          'The sender, or an operator whose token carries `agencies:admin` (a narrower operator token ' +
          'and the recipient get 403, anyone else 404; a refused attempt is audited). Idempotent. The ' +
          'erased bytes leave the database files at the next compaction (hourly).',
        security: secured('referrals:write'),
        params: IdParams,
        body: Ref(ErasureRequestSchema),
        response: { 200: Ref(ErasureResultSchema), ...problems(400, 401, 403, 404, 415, 429) },
      },
    },
    async (request) => {
      const { reason } = request.body
      return eraseReferral(deps, request.caller, request.params.id, reason, String(request.id))
    },
  )
}
