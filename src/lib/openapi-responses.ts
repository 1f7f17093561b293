/**
 * The responses every operation can give whatever its route declares, added to the generated
 * OpenAPI document in one place rather than in each route: 401 where a token is needed, 429 and
 * the rate-limit headers where the rate limit counts, 500 anywhere, 503 (with Retry-After) wherever
 * the hub can be away or shedding load (lib/errors.ts; plugins/errors.ts and load-shedding.ts).
 */

/** What the document alone does not say about a route: read from its Fastify options. */
export interface RouteFacts {
  /** The rate limit counts it (its headers are on every answer). */
  rateLimited: boolean
  /** Answered even while the process sheds load or closes (probes): never 503 for that. */
  alwaysAnswer: boolean
}

interface Response {
  description?: string
  headers?: Record<string, unknown>
  content?: Record<string, { schema?: { $ref?: string } }>
  $ref?: string
}
interface Operation {
  operationId?: string
  security?: Record<string, string[]>[]
  responses?: Record<string, Response>
}
interface Document {
  paths?: Record<string, Record<string, unknown> | undefined>
  components?: object
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace']
const header = (name: string) => ({ $ref: `#/components/headers/${name}` })
const seconds = { type: 'integer', format: 'int32', minimum: 0, maximum: 86_400 }

/** Response headers the hub sends, by the names OWASP's ruleset looks for (header names are case-insensitive). */
export const RESPONSE_HEADERS = {
  'X-RateLimit-Limit': {
    description: 'Requests this client address may make in the current window (RATE_LIMIT_MAX)',
    schema: { type: 'integer', format: 'int32', minimum: 1, maximum: 2_147_483_647 },
  },
  'X-RateLimit-Remaining': {
    description: 'Requests left in the current window',
    schema: { type: 'integer', format: 'int32', minimum: 0, maximum: 2_147_483_647 },
  },
  'X-RateLimit-Reset': { description: 'Seconds until the current window ends', schema: seconds },
  'Retry-After': { description: 'Seconds to wait before trying again (RFC 9110 §10.2.3)', schema: seconds },
}

const problem = (description: string): Response => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Problem' } } },
})

const STANDARD: Record<string, string> = {
  '401': 'No valid access token (TRM_AUTH_UNAUTHENTICATED)',
  '429': 'Rate limit exceeded (TRM_RATE_LIMITED); retry after Retry-After seconds',
  '500': 'Internal error (TRM_INTERNAL): only the request id to quote, nothing else',
  '503':
    'The hub cannot store work now: its database is away, it is overloaded or it is shutting down ' +
    '(TRM_UNAVAILABLE, TRM_OVERLOADED); nothing was stored, retry after Retry-After seconds',
}

/** Adds the standard responses and headers to every operation of `document` (in place), and returns it. */
export function addStandardResponses<T extends Document>(
  document: T,
  facts: ReadonlyMap<string, RouteFacts>,
): T {
  document.components = { ...document.components, headers: RESPONSE_HEADERS }
  for (const item of Object.values(document.paths ?? {})) {
    for (const method of METHODS) {
      const operation = item?.[method] as Operation | undefined
      if (!operation) continue
      const fact = facts.get(operation.operationId ?? '') ?? { rateLimited: true, alwaysAnswer: false }
      operation.responses = operation.responses ?? {}
      const responses = operation.responses
      const add = (status: string) => {
        responses[status] ??= problem(STANDARD[status]!)
      }
      if ((operation.security ?? []).length > 0) add('401')
      if (fact.rateLimited) add('429')
      add('500')
      if (!fact.alwaysAnswer) add('503')
      for (const [status, response] of Object.entries(responses)) {
        if (response.$ref) continue
        const headers: Record<string, unknown> = { ...response.headers }
        if (fact.rateLimited && /^[24]/.test(status)) {
          headers['X-RateLimit-Limit'] = header('X-RateLimit-Limit')
          headers['X-RateLimit-Remaining'] = header('X-RateLimit-Remaining')
          headers['X-RateLimit-Reset'] = header('X-RateLimit-Reset')
        }
        const problemSchema = response.content?.['application/json']?.schema?.$ref?.endsWith('/Problem')
        if (status === '429' || (status === '503' && problemSchema))
          headers['Retry-After'] = header('Retry-After')
        if (Object.keys(headers).length > 0) response.headers = headers
      }
    }
  }
  return document
}
