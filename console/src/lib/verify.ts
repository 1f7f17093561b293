import { base64url, compactVerify, createLocalJWKSet, decodeProtectedHeader, type JWK } from 'jose'
import { verifyAgencySignature, verifyReceipt } from '../../../src/sdk/documents.js'

/** What the console shows for each check: verified, or not verified with the reason. */
export type Check = { ok: true; detail?: string } | { ok: false; reason: string }

export interface SignedDocument<T> {
  check: Check
  kid: string | undefined
  /** The payload; read without trusting it when the signature does not verify (shown as such). */
  payload: T | undefined
}

function decodePayload<T>(jws: string): T | undefined {
  try {
    const [, payload] = jws.split('.')
    return JSON.parse(new TextDecoder().decode(base64url.decode(payload ?? ''))) as T
  } catch {
    return undefined
  }
}

const reasonOf = (error: unknown) =>
  error instanceof Error ? ((error as { code?: string }).code ?? error.message) : 'error'

/** An agency's JWS (referral, acknowledgement) checked against that agency's keys from the directory. */
export async function verifySigned<T>(
  jws: string,
  author: { jwks: { keys: JWK[] } },
  typ: string,
): Promise<SignedDocument<T>> {
  let kid: string | undefined
  try {
    const header = decodeProtectedHeader(jws)
    kid = header.kid
    if (header.typ !== typ)
      return { check: { ok: false, reason: 'typ' }, kid, payload: decodePayload<T>(jws) }
    const payload = (await verifyAgencySignature(jws, author.jwks)) as T
    return { check: { ok: true }, kid, payload }
  } catch (error) {
    return { check: { ok: false, reason: reasonOf(error) }, kid, payload: decodePayload<T>(jws) }
  }
}

async function sha256Base64url(bytes: Uint8Array): Promise<string> {
  return base64url.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as BufferSource)))
}

/**
 * A hub receipt: signed by one of the hub's keys, and naming this document (its payload's SHA-256) and
 * this referral.
 */
export async function verifyReceiptOf(
  receipt: string,
  jws: string,
  referralId: string,
  hubJwks: { keys: JWK[] },
): Promise<Check> {
  try {
    const claims = await verifyReceipt(receipt, hubJwks)
    const payload = base64url.decode(jws.split('.')[1] ?? '')
    if (claims.payloadSha256 !== (await sha256Base64url(payload))) return { ok: false, reason: 'digest' }
    if (claims.referralId !== referralId) return { ok: false, reason: 'referralId' }
    return { ok: true, detail: claims.receivedAt }
  } catch (error) {
    return { ok: false, reason: reasonOf(error) }
  }
}

/** A hub-signed statement of another `typ` (an audit checkpoint) and its claims. */
export async function verifyHubStatement<T>(
  jws: string,
  typ: string,
  hubJwks: { keys: JWK[] },
): Promise<{ check: Check; claims: T | undefined }> {
  try {
    const { payload, protectedHeader } = await compactVerify(jws, createLocalJWKSet(hubJwks), {
      algorithms: ['EdDSA'],
    })
    if (protectedHeader.typ !== typ) return { check: { ok: false, reason: 'typ' }, claims: undefined }
    return { check: { ok: true }, claims: JSON.parse(new TextDecoder().decode(payload)) as T }
  } catch (error) {
    return { check: { ok: false, reason: reasonOf(error) }, claims: undefined }
  }
}
