import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { IdParams, problems, Ref, secured } from '../../lib/schemas.js'
import { SignedSubmissionSchema } from '../referrals/referrals.schemas.js'
import { AcknowledgementResultSchema } from './acknowledgements.schemas.js'
import { submitAcknowledgement } from './acknowledgements.service.js'

export const acknowledgementsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const deps = { db: app.db, hubKeys: app.hubKeys, config: app.config, now: () => new Date() }

  app.post(
    '/v1/referrals/:id/acknowledgements',
    {
      onRequest: app.authorize('acknowledgements:write'),
      schema: {
        operationId: 'submitAcknowledgement',
        tags: ['referrals'],
        summary: 'Acknowledge a referral with a signed AcknowledgementDocument (typ trm-ack+json)',
        description:
          'received, accepted, declined (with reason), info_requested and closed (with outcome) come from ' +
          'the recipient; info_provided and withdrawn from the sender. The wrong party gets 403, a ' +
          'transition the current state does not allow gets 409 naming the state, an identical replay 200. ' +
          "consent_withdrawn (with scope) comes from the sender of the chain's first referral, on it, and " +
          "erases the chain's payloads; erasure_confirmed from each holder it asked (README, Consent withdrawal).",
        security: secured('acknowledgements:write'),
        params: IdParams,
        body: Ref(SignedSubmissionSchema),
        response: {
          200: Ref(AcknowledgementResultSchema),
          201: Ref(AcknowledgementResultSchema),
          ...problems(400, 401, 403, 404, 409, 413, 415, 422, 429),
        },
      },
    },
    async (request, reply) => {
      const { jws } = request.body
      const result = await submitAcknowledgement(
        deps,
        request.caller.id,
        request.params.id,
        jws,
        String(request.id),
      )
      return reply.code(result.status).send(result.body)
    },
  )
}
