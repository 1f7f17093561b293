import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ERRORS, type ErrorCode, type FieldError, isHubError } from '../lib/errors.js'
import { isDatabaseUnavailable, isPoolTimeout } from '../lib/pg-errors.js'
import { fieldErrors, toProblem } from '../lib/problem.js'
import type { SchemaError } from '../lib/validator.js'

const PROBLEM_JSON = 'application/problem+json; charset=utf-8'

/** A database restart or failover takes seconds; clients that retry sooner only add load. */
const DATABASE_RETRY_AFTER_SECONDS = 2

export function sendProblem(
  reply: FastifyReply,
  code: ErrorCode,
  detail: string,
  errors?: FieldError[],
  headers?: Record<string, string>,
) {
  const problem = toProblem(code, detail, String(reply.request.id), errors)
  if (headers) reply.headers(headers)
  return reply.code(problem.status).type(PROBLEM_JSON).serializer(JSON.stringify).send(problem)
}

const FRAMEWORK_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'TRM_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'TRM_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'TRM_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'TRM_BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'TRM_BAD_REQUEST',
}

function handleError(
  this: FastifyInstance,
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  if (isHubError(error)) {
    // A 503 (closing, overloaded) is the hub protecting itself, said where it is decided; not an error.
    if (error.status >= 500 && error.status !== 503) request.log.error({ err: error }, 'hub error')
    return sendProblem(reply, error.code, error.message, error.errors, error.headers)
  }
  if (error.validation) {
    const part = error.validationContext ?? 'body'
    const prefix = part === 'body' ? '' : `/${part}`
    const errors = fieldErrors(error.validation as readonly SchemaError[], prefix)
    return sendProblem(reply, 'TRM_VALIDATION', `The request ${part} is not valid.`, errors)
  }
  const mapped = error.code ? FRAMEWORK_CODES[error.code] : undefined
  if (mapped === 'TRM_UNSUPPORTED_MEDIA_TYPE') {
    return sendProblem(
      reply,
      mapped,
      'Send application/json (the token endpoint takes application/x-www-form-urlencoded).',
    )
  }
  if (mapped) return sendProblem(reply, mapped, error.message)
  if (error.statusCode === 429) {
    return sendProblem(reply, 'TRM_RATE_LIMITED', 'Too many requests; retry after the time in Retry-After.')
  }
  if (error.statusCode === 400 && error.code?.startsWith('FST_')) {
    return sendProblem(reply, 'TRM_BAD_REQUEST', error.message)
  }
  // Postgres away (stopped, restarting, unreachable) or every pooled connection busy past the wait:
  // nothing was stored, and the same request will work again once it is back. The pool reconnects.
  if (isDatabaseUnavailable(error)) {
    const busy = isPoolTimeout(error)
    request.log.warn({ err: error }, busy ? 'database pool exhausted' : 'database unavailable')
    const why = busy ? 'The hub is overloaded' : 'The hub cannot reach its database right now'
    return sendProblem(
      reply,
      'TRM_UNAVAILABLE',
      `${why}; nothing was stored. Retry after the time in Retry-After.`,
      undefined,
      { 'retry-after': String(DATABASE_RETRY_AFTER_SECONDS) },
    )
  }
  // Anything else is our fault: the caller learns only the request id, the log keeps the rest.
  request.log.error({ err: error }, 'unhandled error')
  const unavailable = error.statusCode === 503
  return sendProblem(
    reply,
    unavailable ? 'TRM_UNAVAILABLE' : 'TRM_INTERNAL',
    `${unavailable ? 'Service unavailable' : 'Internal error'}; quote request id ${request.id} when reporting it.`,
  )
}

/**
 * Errors Node meets on a connection before Fastify has a request to answer (Fastify's
 * `clientErrorHandler`): the request not received within `REQUEST_TIMEOUT_MS` (a body trickled in,
 * headers that never end), headers too large, a malformed request. The answer is a problem document,
 * then the connection is closed.
 */
export function clientErrorHandler(this: FastifyInstance, error: Error & { code?: string }, socket: Duplex) {
  // A reset connection has no one left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const code: ErrorCode =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? 'TRM_REQUEST_TIMEOUT'
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? 'TRM_HEADERS_TOO_LARGE'
        : 'TRM_BAD_REQUEST'
  const detail =
    code === 'TRM_REQUEST_TIMEOUT'
      ? 'The request was not received in time; send it again, whole.'
      : code === 'TRM_HEADERS_TOO_LARGE'
        ? 'The request headers are too large.'
        : 'The request is not valid HTTP.'
  const requestId = randomUUID()
  this.log.info({ requestId, clientError: error.code }, 'connection closed on a client error')
  const body = JSON.stringify(toProblem(code, detail, requestId))
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${ERRORS[code].status} ${STATUS_CODES[ERRORS[code].status]}\r\n` +
        `content-type: ${PROBLEM_JSON}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `x-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`,
    )
  }
  socket.destroy()
}

/**
 * Errors Fastify's router meets before any hook or error handler runs (Fastify's `frameworkErrors`):
 * a URL that is not valid percent-encoding, a path parameter past `maxParamLength`. They are problems
 * like every other 4xx; the detail does not repeat the URL.
 */
export function answerFrameworkError(error: FastifyError, _request: FastifyRequest, reply: FastifyReply) {
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return sendProblem(reply, 'TRM_URI_TOO_LONG', 'A path segment of the URL is longer than the hub reads.')
  }
  if (error.code === 'FST_ERR_BAD_URL') {
    return sendProblem(reply, 'TRM_BAD_REQUEST', 'The URL path is not valid percent-encoded UTF-8.')
  }
  reply.log.error({ err: error }, 'unhandled framework error')
  return sendProblem(reply, 'TRM_BAD_REQUEST', 'The request could not be read.')
}

/** Route patterns by method, to tell 405 (path known, method not) from 404. */
function routeMatcher(app: FastifyInstance) {
  const routes: { pattern: RegExp; methods: Set<string> }[] = []
  app.addHook('onRoute', (route) => {
    const source = route.url
      .split('/')
      .map((part) =>
        part.startsWith(':') ? '[^/]+' : part === '*' ? '.*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
      )
      .join('/')
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    routes.push({ pattern: new RegExp(`^${source}/?$`), methods: new Set(methods) })
  })
  return (path: string): string[] => {
    const allowed = new Set<string>()
    for (const route of routes) if (route.pattern.test(path)) for (const m of route.methods) allowed.add(m)
    return [...allowed]
  }
}

export default fp(
  async function errors(app) {
    const allowedMethods = routeMatcher(app)
    app.setErrorHandler(handleError)
    app.setNotFoundHandler((request, reply) => {
      const path = request.url.split('?')[0] ?? '/'
      const allowed = allowedMethods(path)
      // A route of this very method that found nothing (a static file absent) is a plain 404.
      if (allowed.length > 0 && !allowed.includes(request.method)) {
        return sendProblem(
          reply,
          'TRM_METHOD_NOT_ALLOWED',
          `${request.method} is not allowed on ${path}; allowed: ${allowed.join(', ')}.`,
          undefined,
          { allow: allowed.join(', ') },
        )
      }
      return sendProblem(reply, 'TRM_ROUTE_NOT_FOUND', `There is no route ${request.method} ${path}.`)
    })
  },
  { name: 'trm-errors' },
)
