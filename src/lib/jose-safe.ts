import type { JWSHeaderParameters } from 'jose'
import { Compile } from 'typebox/compile'
import { KeyId } from './schemas.js'
import { parseStrictJson, StrictJsonError } from './strict-json.js'

/** Algorithms the hub accepts from agencies. Everything else (none, HS*, RS*, PS*) is refused. */
export const AGENCY_SIGNING_ALGS = ['ES256', 'EdDSA'] as const
export type AgencySigningAlg = (typeof AGENCY_SIGNING_ALGS)[number]

/**
 * Header members that would let a signer choose the verification key or change how the payload is
 * read (RFC 7515 §4.1.2–4.1.6, §4.1.11; RFC 7797). Keys come only from the hub's directory.
 */
const FORBIDDEN_HEADERS = ['jku', 'jwk', 'x5u', 'x5c', 'crit', 'b64'] as const

// The kid is looked up in Postgres: it is held to the directory's own schema for a kid (no NUL).
const isKeyId = Compile(KeyId)

export type HeaderProblem = 'alg' | 'kid' | 'forbidden-header' | 'typ' | 'malformed'

/** Checks a protected header before any key is looked up; returns what is wrong, or undefined. */
export function checkProtectedHeader(
  header: JWSHeaderParameters,
  expectedTyp?: string,
): { problem: HeaderProblem; member: string } | undefined {
  for (const member of FORBIDDEN_HEADERS) {
    if (member in header) return { problem: 'forbidden-header', member }
  }
  if (typeof header.alg !== 'string' || !(AGENCY_SIGNING_ALGS as readonly string[]).includes(header.alg)) {
    return { problem: 'alg', member: 'alg' }
  }
  if (!isKeyId.Check(header.kid)) {
    return { problem: 'kid', member: 'kid' }
  }
  if (expectedTyp !== undefined && header.typ !== expectedTyp) return { problem: 'typ', member: 'typ' }
  return undefined
}

/** The JWS alg a registered key is meant for, from its kty/crv; keys never verify under another alg. */
export function algForKey(jwk: { kty?: string; crv?: string }): AgencySigningAlg | undefined {
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256'
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA'
  return undefined
}

/**
 * The JSON object a base64url part of a compact JWS stands for (its protected header, or a JWT's
 * claims), read as I-JSON: a header or payload with two `alg`s, two `kid`s or two `iss`s means one
 * thing to the hub and another to a reader that keeps the first (RFC 8725 §3.11). The caller has
 * checked that the part holds only base64url characters. Throws a {@link StrictJsonError}.
 */
export function decodeJsonObjectPart(part: string): Record<string, unknown> {
  const value = parseStrictJson(Buffer.from(part, 'base64url'))
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new StrictJsonError('syntax', '', 'is not a JSON object.')
  }
  return value as Record<string, unknown>
}
