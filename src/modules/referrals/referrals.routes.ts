import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { clientGone } from '../../lib/client-gone.js'
import { IdParams, problems, Ref, secured } from '../../lib/schemas.js'
import { getReferral, listReferrals } from './referrals.read.js'
import {
  ReferralListQuerySchema,
  ReferralPageSchema,
  ReferralSubmissionResultSchema,
  ReferralViewSchema,
  SignedSubmissionSchema,
} from './referrals.schemas.js'
import { submitReferral } from './referrals.service.js'

export const referralsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const deps = {
    db: app.db,
    hubKeys: app.hubKeys,
    config: app.config,
    now: () => new Date(),
    directory: app.directory,
    submissions: app.submissions,
  }

  app.post(
    '/v1/referrals',
    {
      onRequest: app.authorize('referrals:write'),
      schema: {
        operationId: 'submitReferral',
        tags: ['referrals'],
        summary: 'Submit a signed referral (201); an identical replay answers 200 with the first receipt',
        description:
          'The body carries a compact JWS (typ trm-referral+json, alg ES256 or EdDSA, kid of one of your ' +
          'signing keys) whose payload is a ReferralDocument. The same id over a different document is 422; ' +
          'the same id still being processed is 409.',
        security: secured('referrals:write'),
        body: Ref(SignedSubmissionSchema),
        response: {
          200: Ref(ReferralSubmissionResultSchema),
          201: Ref(ReferralSubmissionResultSchema),
          ...problems(400, 401, 403, 409, 413, 415, 422, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const result = await submitReferral(
        deps,
        request.caller,
        request.body.jws,
        String(request.id),
        clientGone(reply.raw),
      )
      if (result.status === 201) reply.header('location', `/v1/referrals/${result.body.id}`)
      return reply.code(result.status).send(result.body)
    },
  )

  app.get(
    '/v1/referrals',
    {
      onRequest: app.authorize('referrals:read'),
      schema: {
        operationId: 'listReferrals',
        tags: ['referrals'],
        summary: 'Referrals the caller sent or received, by role and status, cursor-paged',
        security: secured('referrals:read'),
        querystring: ReferralListQuerySchema,
        response: { 200: Ref(ReferralPageSchema), ...problems(400, 401, 403, 429) },
      },
    },
    async (request) => listReferrals(deps, request.caller.id, request.query, String(request.id)),
  )

  app.get(
    '/v1/referrals/:id',
    {
      onRequest: app.authorize('referrals:read'),
      schema: {
        operationId: 'getReferral',
        tags: ['referrals'],
        summary: 'State, parties, deadlines, the original JWS and the acknowledgements (parties only)',
        description:
          'Parties only; an operator reads the skeleton of an erased referral (no JWS remains to show).',
        security: secured('referrals:read'),
        params: IdParams,
        response: { 200: Ref(ReferralViewSchema), ...problems(400, 401, 403, 404, 429) },
      },
    },
    async (request) => getReferral(deps, request.params.id, request.caller, String(request.id)),
  )
}
