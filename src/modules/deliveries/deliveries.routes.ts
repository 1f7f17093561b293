import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { problems, secured } from '../../lib/schemas.js'
import { type DeliveryListQuery, DeliveryListQuerySchema } from './deliveries.schemas.js'
import { listDeliveries } from './deliveries.service.js'

export const deliveriesRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const deps = { db: app.db }

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
          'still in the inbox (`GET /v1/inbox`).',
        security: secured('inbox:read'),
        querystring: DeliveryListQuerySchema,
        response: { 200: Type.Ref('WebhookDeliveryPage'), ...problems(400, 401, 403, 429) },
      },
    },
    async (request) => listDeliveries(deps, request.caller.id, request.query as DeliveryListQuery) as never,
  )
}
