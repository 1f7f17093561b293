import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { problems, Ref, secured } from '../../lib/schemas.js'
import { retryDelivery, retryFailedDeliveries } from './deliveries.retry.js'
import {
  DeliveryListQuerySchema,
  DeliveryPageSchema,
  DeliveryParamsSchema,
  DeliveryRetriedSchema,
  DeliveryRetryAllSchema,
  DeliverySchema,
} from './deliveries.schemas.js'
import { listDeliveries } from './deliveries.service.js'

// Retrying sends the agency's own messages again to the webhook it registered: nothing reaches
// anyone who could not read them already with `inbox:read`, which also confirms inbox messages.
const RETRY_SCOPE = 'inbox:read'

const retryCaller = (request: FastifyRequest) => ({
  agencyId: request.caller.id,
  operator: request.caller.operator,
  scopes: request.caller.scopes,
  requestId: String(request.id),
})

export const deliveriesRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const deps = { db: app.db, config: app.config }

  app.get(
    '/v1/deliveries',
    {
      onRequest: app.authorize('inbox:read'),
      schema: {
        operationId: 'listDeliveries',
        tags: ['inbox'],
        summary: "The caller's webhook deliveries with their attempts, newest first, cursor-paged",
        description:
          'Push agencies only have deliveries: one per inbox message POSTed to their webhook. Newest first; ' +
          '`next` continues with older ones. A `failed` delivery has used every attempt; its message is ' +
          'still in the inbox (`GET /v1/inbox`), and `POST /v1/deliveries/{messageId}/retry` sends it again. ' +
          'A `cancelled` one was pending when the agency switched to pull: it is not tried again.',
        security: secured('inbox:read'),
        querystring: DeliveryListQuerySchema,
        response: { 200: Ref(DeliveryPageSchema), ...problems(400, 401, 403, 429) },
      },
    },
    async (request) => listDeliveries(deps, request.caller.id, request.query),
  )

  app.post(
    '/v1/deliveries/:messageId/retry',
    {
      onRequest: app.authorize(RETRY_SCOPE),
      schema: {
        operationId: 'retryDelivery',
        tags: ['inbox'],
        summary: 'Send a failed delivery again (its agency, or an operator)',
        description:
          'Puts a `failed` delivery back to `pending` with a new webhook job: a full round of attempts ' +
          'with the usual back-off. Answers 202 with the delivery; `GET /v1/deliveries` shows how it goes. ' +
          "Another agency's delivery is 404 (an operator's token reaches them with `agencies:admin`). 409 " +
          'when the delivery is not `failed`, or when its agency is suspended or takes messages by pull now.',
        security: secured(RETRY_SCOPE),
        params: DeliveryParamsSchema,
        response: { 202: Ref(DeliverySchema), ...problems(400, 401, 403, 404, 409, 429) },
      },
    },
    async (request, reply) => {
      const delivery = await retryDelivery(deps, retryCaller(request), request.params.messageId)
      return reply.code(202).send(delivery)
    },
  )

  app.post(
    '/v1/deliveries/retry',
    {
      onRequest: app.authorize(RETRY_SCOPE),
      schema: {
        operationId: 'retryDeliveries',
        tags: ['inbox'],
        summary: "Send every failed delivery of an agency again (its own; an operator's: any agency's)",
        description:
          'Does what `POST /v1/deliveries/{messageId}/retry` does for each `failed` delivery of the ' +
          "agency (the caller's own, or `agencyId` for an operator with `agencies:admin`), each audited " +
          'as `webhook.retry_requested`. Answers 202 with how many were put back to `pending`. 409 when ' +
          'the agency is suspended or takes messages by pull now.',
        security: secured(RETRY_SCOPE),
        body: Ref(DeliveryRetryAllSchema),
        response: {
          202: Ref(DeliveryRetriedSchema),
          ...problems(400, 401, 403, 404, 409, 415, 429),
        },
      },
    },
    async (request, reply) => {
      const retried = await retryFailedDeliveries(deps, retryCaller(request), request.body)
      return reply.code(202).send(retried)
    },
  )
}
