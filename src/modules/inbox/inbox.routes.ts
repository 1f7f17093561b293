import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { clientGone } from '../../lib/client-gone.js'
import { problems, Ref, secured } from '../../lib/schemas.js'
import { confirmInbox, readInbox } from './inbox.api.service.js'
import {
  InboxConfirmedSchema,
  InboxConfirmSchema,
  InboxPageSchema,
  InboxQuerySchema,
} from './inbox.schemas.js'

export const inboxRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const deps = { db: app.db, config: app.config, hubKeys: app.hubKeys, wakeups: app.inboxWakeups }

  app.get(
    '/v1/inbox',
    {
      onRequest: app.authorize('inbox:read'),
      schema: {
        operationId: 'readInbox',
        tags: ['inbox'],
        summary: 'Messages for the caller, oldest unconfirmed first; ?wait=S long-polls up to 30 s',
        security: secured('inbox:read'),
        querystring: InboxQuerySchema,
        response: { 200: Ref(InboxPageSchema), ...problems(400, 401, 403, 429) },
      },
    },
    async (request, reply) =>
      readInbox(deps, request.caller.id, request.query, String(request.id), clientGone(reply.raw)),
  )

  app.post(
    '/v1/inbox/confirm',
    {
      onRequest: app.authorize('inbox:read'),
      schema: {
        operationId: 'confirmInbox',
        tags: ['inbox'],
        summary: 'Confirm delivery of every message up to a cursor',
        security: secured('inbox:read'),
        body: Ref(InboxConfirmSchema),
        response: { 200: Ref(InboxConfirmedSchema), ...problems(400, 401, 403, 415, 429) },
      },
    },
    async (request) => {
      const { through } = request.body
      return confirmInbox(deps, request.caller.id, through, String(request.id))
    },
  )
}
