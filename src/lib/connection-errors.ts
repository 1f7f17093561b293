/** host:port/database of a Postgres URL, without the user or password: safe for logs and messages. */
export function postgresAddress(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl)
    return `${url.hostname || 'localhost'}:${url.port || '5432'}${url.pathname.length > 1 ? url.pathname : ''}`
  } catch {
    return 'DATABASE_URL'
  }
}

const SOCKET_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
}

/** Why a connection failed, in a few words (`ECONNREFUSED: connection refused`), never a stack. */
export function connectionReason(error: unknown): string {
  const { code, message, cause } = (error ?? {}) as { code?: unknown; message?: unknown; cause?: unknown }
  if (typeof code === 'string' && SOCKET_WORDS[code]) return `${code}: ${SOCKET_WORDS[code]}`
  if (cause) return connectionReason(cause)
  if (typeof message === 'string' && message)
    return typeof code === 'string' ? `${code}: ${message}` : message
  return 'no answer'
}
