import { HubError } from './errors.js'

/** Opaque page cursors: base64url JSON of the last position, so clients cannot depend on its shape. */
export function encodeCursor(position: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url')
}

export function decodeCursor<T extends Record<string, string | number>>(
  cursor: string | undefined,
  isValid: (value: Record<string, unknown>) => value is T,
  pointer = '/querystring/after',
): T | undefined {
  if (cursor === undefined) return undefined
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown
    if (value && typeof value === 'object' && isValid(value as Record<string, unknown>)) return value as T
  } catch {
    // fall through to the same answer as any other bad cursor
  }
  throw new HubError('TRM_VALIDATION', 'The cursor is not one this hub issued.', { pointer })
}

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export const isIdCursor = (v: Record<string, unknown>): v is { id: string } =>
  typeof v['id'] === 'string' && UUID_PATTERN.test(v['id'])
