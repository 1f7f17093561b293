import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { IdParams, problems, Ref, secured } from '../../lib/schemas.js'
import { EvidenceListSchema } from './evidence.schemas.js'
import { listReferralEvidence } from './evidence.service.js'

export const evidenceRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const deps = { db: app.db }
  app.get(
    '/v1/referrals/:id/evidence',
    {
      onRequest: app.authorize('referrals:read'),
      schema: {
        operationId: 'listEvidence',
        tags: ['referrals'],
        summary: 'Hub-signed evidence of delivery and retrieval (or of their absence) of a referral',
        description:
          'The sender and the recipient; anyone else gets 404. Each item is issued once and also put in ' +
          "the sender's inbox as an `evidence` message; check it offline with the hub JWKS " +
          '(`verifyEvidence` in the SDK).',
        security: secured('referrals:read'),
        params: IdParams,
        response: { 200: Ref(EvidenceListSchema), ...problems(400, 401, 403, 404, 429) },
      },
    },
    async (request) => listReferralEvidence(deps, request.params.id, request.caller.id, String(request.id)),
  )
}
