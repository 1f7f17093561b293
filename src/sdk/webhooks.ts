import { createLocalJWKSet, type JWK } from 'jose'
import { verifyDetached, WEBHOOK_SIGNATURE_TYP } from '../lib/detached-jws.js'
import type { InboxItem } from '../modules/inbox/inbox.core.js'

export type { InboxItem } from '../modules/inbox/inbox.core.js'

/**
 * Checks a webhook the hub POSTed: `TRM-Signature` is a detached JWS (RFC 7515 Appendix F) over the
 * exact body bytes, signed by one of the hub's keys (`/.well-known/jwks.json`). Pass the raw body as
 * received, before any JSON parsing. Returns the inbox message; throws when the signature does not hold.
 * Deduplicate on its `id` (equal to the `TRM-Message-Id` header): delivery is at least once.
 */
export async function verifyWebhook(
  rawBody: Uint8Array | string,
  signature: string,
  hubJwks: { keys: JWK[] },
): Promise<InboxItem> {
  const bytes = typeof rawBody === 'string' ? new TextEncoder().encode(rawBody) : rawBody
  await verifyDetached(signature, bytes, createLocalJWKSet(hubJwks), WEBHOOK_SIGNATURE_TYP)
  return JSON.parse(new TextDecoder().decode(bytes)) as InboxItem
}
