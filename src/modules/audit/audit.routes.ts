import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { HubError } from '../../lib/errors.js'
import { IdParams, problems, Ref, secured, Text } from '../../lib/schemas.js'
import {
  addCosignatures,
  consistency,
  hashTile,
  inclusion,
  requireLatestCheckpoint,
  witnessesOf,
} from './audit.log.js'
import { listAuditEvents, referralAuditTrail } from './audit.read.js'
import {
  AuditCheckpointSchema,
  AuditListQuerySchema,
  AuditPageSchema,
  ConsistencyProofSchema,
  ConsistencyQuerySchema,
  CosignatureBodySchema,
  InclusionProofSchema,
  InclusionQuerySchema,
  ReferralAuditTrailSchema,
  WitnessListSchema,
} from './audit.schemas.js'
import { TreeReader } from './tree.reader.js'

/** Tiles an API process keeps hashed up (16 KiB each): the upper tiles and the recent leaf tiles. */
const TREE_TILES_KEPT = 1024

/** JSON only when asked for by name: tlog clients send no Accept or text/plain. */
const wantsJson = (accept: string | undefined) => accept?.includes('application/json') === true

export const auditRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const deps = { db: app.db, tree: new TreeReader(app.db, TREE_TILES_KEPT) }

  app.get(
    '/v1/audit',
    {
      onRequest: app.authorize('audit:read'),
      schema: {
        operationId: 'listAuditEvents',
        tags: ['audit'],
        summary:
          'Sealed audit events by leaf index: your own and those about your referrals (operators: all)',
        description:
          'Events appear here once sealed into the Merkle tree, within seconds of the action. Filter by ' +
          'referralId and action; page with the opaque cursor in `next`.',
        security: secured('audit:read'),
        querystring: AuditListQuerySchema,
        response: { 200: Ref(AuditPageSchema), ...problems(400, 401, 403, 429) },
      },
    },
    async (request) => listAuditEvents(deps, request.caller, request.query, String(request.id)),
  )

  const witnesses = witnessesOf(app.config.auditLog.witnessKeys)
  // Witnesses post the note as it is (tlog-witness style); only the routes of this plugin read text.
  app.addContentTypeParser('text/plain', { parseAs: 'string', bodyLimit: 65_536 }, (_request, body, done) =>
    done(null, body),
  )
  const IMMUTABLE = 'public, max-age=31536000, immutable'

  app.get(
    '/v1/audit/checkpoint',
    {
      schema: {
        operationId: 'getAuditCheckpoint',
        tags: ['audit'],
        summary: 'The latest checkpoint of the audit Merkle tree, as a signed note with its cosignatures',
        description:
          'text/plain (the default): the C2SP signed note, exactly what witnesses and tlog clients read. ' +
          'With Accept: application/json: { origin, size, rootHash, at, note, cosignatures }. No token needed. ' +
          'The tree itself is served as C2SP tlog-tiles hash tiles at GET /v1/audit/tile/<L>/<N>[.p/<W>] ' +
          '(binary, immutable; see docs/operations.md, Audit log).',
        security: [],
        response: {
          200: {
            content: {
              'text/plain; charset=utf-8': { schema: Text(65_536, { description: 'The C2SP signed note' }) },
              'application/json': { schema: Ref(AuditCheckpointSchema) },
            },
          },
          ...problems(404, 429),
        },
      },
    },
    async (request, reply) => {
      const checkpoint = await requireLatestCheckpoint(deps.db)
      reply.header('cache-control', 'no-cache').header('vary', 'accept')
      if (wantsJson(request.headers.accept)) return reply.type('application/json').send(checkpoint)
      return reply.type('text/plain; charset=utf-8').send(checkpoint.note)
    },
  )

  app.get(
    '/v1/audit/proofs/inclusion',
    {
      onRequest: app.authorize('audit:read'),
      schema: {
        operationId: 'getAuditInclusionProof',
        tags: ['audit'],
        summary:
          'RFC 9162 inclusion proof of a leaf you may see (operators: any) in a tree up to the latest checkpoint',
        security: secured('audit:read'),
        querystring: InclusionQuerySchema,
        response: { 200: Ref(InclusionProofSchema), ...problems(400, 401, 403, 404, 429) },
      },
    },
    async (request) => inclusion(deps, request.caller, request.query.index, request.query.size),
  )

  app.get(
    '/v1/audit/proofs/consistency',
    {
      schema: {
        operationId: 'getAuditConsistencyProof',
        tags: ['audit'],
        summary:
          'RFC 9162 consistency proof between two tree sizes up to the latest checkpoint (no token needed)',
        security: [],
        querystring: ConsistencyQuerySchema,
        response: { 200: Ref(ConsistencyProofSchema), ...problems(400, 429) },
      },
    },
    async (request) => consistency(deps, request.query.from, request.query.to),
  )

  app.get(
    '/v1/audit/tile/*',
    {
      schema: {
        // A wildcard path (tile paths have a variable depth) has no OpenAPI form: described in
        // docs/operations.md ("Audit log") and in the description of GET /v1/audit/checkpoint.
        hide: true,
        operationId: 'getAuditTile',
        tags: ['audit'],
        summary:
          'A C2SP tlog-tiles hash tile, e.g. /v1/audit/tile/0/x001/234 or …/234.p/17 (no token needed)',
        description:
          'Binary: 32-byte hashes concatenated. Full and partial tiles never change (immutable); entry ' +
          'bundles (tile/entries) are not served: event bodies are only for those who may see them.',
        security: [],
        response: {
          200: {
            content: {
              'application/octet-stream': {
                schema: Type.Unsafe<Uint8Array>({ type: 'string', format: 'binary', maxLength: 8192 }),
              },
            },
          },
          ...problems(404, 429),
        },
      },
    },
    async (request, reply) => {
      const path = request.url.slice('/v1/audit/tile/'.length).split('?')[0] ?? ''
      const tile = path.length <= 200 ? await hashTile(deps, path) : undefined
      if (!tile) throw new HubError('TRM_NOT_FOUND', 'The tree has no such tile (yet).')
      reply.header('cache-control', IMMUTABLE).type('application/octet-stream')
      return reply.send(Buffer.from(tile))
    },
  )

  app.get(
    '/v1/audit/witnesses',
    {
      schema: {
        operationId: 'listAuditWitnesses',
        tags: ['audit'],
        summary: 'The witnesses registered by the operator, with their C2SP verifier keys (no token needed)',
        security: [],
        response: { 200: Ref(WitnessListSchema), ...problems(429) },
      },
    },
    async () => witnesses.map((w) => ({ name: w.name, key: w.key })),
  )

  app.post(
    '/v1/audit/checkpoint/cosignatures',
    {
      schema: {
        operationId: 'addAuditCosignatures',
        tags: ['audit'],
        summary: "A registered witness's cosignature of a hub checkpoint (the signature is the credential)",
        description:
          'Body: the checkpoint note with the C2SP tlog-cosignature line(s), as text/plain or JSON ' +
          '{ note }. 422 unless the text is a checkpoint the hub signed and a line verifies with a ' +
          'registered witness key. Answers the checkpoint (JSON) with every cosignature now held.',
        security: [],
        body: CosignatureBodySchema,
        response: { 200: Ref(AuditCheckpointSchema), ...problems(400, 413, 415, 422, 429) },
      },
    },
    async (request) =>
      addCosignatures(
        deps.db,
        witnesses,
        typeof request.body === 'string' ? request.body : request.body.note,
      ),
  )

  app.get(
    '/v1/referrals/:id/audit',
    {
      onRequest: app.authorize('audit:read'),
      schema: {
        operationId: 'getReferralAudit',
        tags: ['audit'],
        summary:
          'The audit trail of one referral, each event with an inclusion proof against the checkpoint returned (parties only)',
        security: secured('audit:read'),
        params: IdParams,
        response: { 200: Ref(ReferralAuditTrailSchema), ...problems(400, 401, 403, 404, 429) },
      },
    },
    async (request) => referralAuditTrail(deps, request.params.id, request.caller.id, String(request.id)),
  )
}
