import type { AgencyKeyRow } from '../../db/types.js'
import { HubError } from '../../lib/errors.js'
import { decodeJsonObjectPart } from '../../lib/jose-safe.js'
import { StrictJsonError } from '../../lib/strict-json.js'

const COMPACT_JWE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/**
 * The hub checks only the header of the `sensitive` JWE (it holds no key that could open it): the
 * algorithms, the content type (a SensitiveDetails JSON object, lib/sensitive-details.ts), and that
 * it is addressed to one of the recipient's active encryption keys, whose kid it returns.
 */
export function checkSensitive(jwe: string, recipientKeys: AgencyKeyRow[]): string {
  const encKids = recipientKeys.filter((k) => k.use === 'enc' && k.status === 'active').map((k) => k.kid)
  if (encKids.length === 0) {
    throw new HubError(
      'TRM_SENSITIVE_INVALID',
      'The recipient has no encryption key; sensitive details cannot be sent to it.',
      {
        pointer: '/sensitive',
      },
    )
  }
  if (!COMPACT_JWE.test(jwe)) {
    throw new HubError('TRM_SENSITIVE_INVALID', 'sensitive must be a compact JWE.', { pointer: '/sensitive' })
  }
  let header: Record<string, unknown>
  try {
    // As I-JSON: a header with two kids would be addressed to one key for the hub, another for the reader.
    header = decodeJsonObjectPart(jwe.slice(0, jwe.indexOf('.')))
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error
    const detail =
      error.problem === 'syntax'
        ? 'sensitive must be a compact JWE.'
        : `The JWE protected header ${error.reason}`
    throw new HubError('TRM_SENSITIVE_INVALID', detail, { pointer: '/sensitive' })
  }
  if (header['alg'] !== 'ECDH-ES+A256KW' || header['enc'] !== 'A256GCM') {
    throw new HubError('TRM_SENSITIVE_INVALID', 'sensitive must use alg ECDH-ES+A256KW and enc A256GCM.', {
      pointer: '/sensitive',
    })
  }
  // The plaintext is a SensitiveDetails JSON object; RFC 7515 §4.1.10 lets "json" stand for it.
  const cty = typeof header['cty'] === 'string' ? header['cty'].toLowerCase() : undefined
  if (cty !== 'application/json' && cty !== 'json') {
    throw new HubError(
      'TRM_SENSITIVE_INVALID',
      'The JWE protected header must say cty "application/json": the plaintext is a SensitiveDetails object.',
      { pointer: '/sensitive' },
    )
  }
  for (const member of ['jku', 'jwk', 'x5u', 'x5c', 'crit', 'zip']) {
    if (member in header) {
      throw new HubError('TRM_SENSITIVE_INVALID', `The JWE header member ${member} is refused.`, {
        pointer: '/sensitive',
      })
    }
  }
  if (typeof header['kid'] !== 'string' || !encKids.includes(header['kid'])) {
    throw new HubError(
      'TRM_SENSITIVE_INVALID',
      "sensitive must be encrypted to one of the recipient's active enc keys.",
      {
        pointer: '/sensitive',
      },
    )
  }
  return header['kid']
}
