/** Postgres unique_violation (SQLSTATE 23505), optionally on a named constraint or index. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint?: string }
  return e?.code === '23505' && (constraint === undefined || e.constraint === constraint)
}

/** Socket errors of a connection that is gone or never came (Node's error codes). */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
])

/** What node-postgres says when the connection under a statement is gone (it gives these no code). */
const LOST_MESSAGES = [
  'Connection terminated',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
]

/**
 * True when the connection a statement ran on is gone: the server ended the session (SQLSTATE
 * 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now), the connection failed
 * (class 08), or the socket broke. Such a connection must not be used again.
 */
export function isConnectionLost(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown }
  if (typeof code === 'string') {
    if (/^57P0[123]$/.test(code) || code.startsWith('08') || SOCKET_CODES.has(code)) return true
  }
  if (typeof message !== 'string') return false
  return LOST_MESSAGES.some((text) => message === text || message.startsWith(`${text} `))
}

/**
 * True when a statement failed because Postgres is not available to this process right now, not
 * because of what it asked: the connection was lost or refused, the server is starting or shutting
 * down, it has no connection slot left (53300), or every pooled connection stayed busy past the
 * pool's wait. Callers answer 503 with Retry-After; the pool reconnects by itself.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (isConnectionLost(error)) return true
  const e = error as { code?: unknown; message?: unknown }
  return e?.code === '53300' || isPoolTimeout(error)
}

/** Every pooled connection stayed busy past the pool's wait (pg-pool's connectionTimeoutMillis). */
export function isPoolTimeout(error: unknown): boolean {
  const message = (error as { message?: unknown })?.message
  return typeof message === 'string' && message.startsWith('timeout exceeded when trying to connect')
}
