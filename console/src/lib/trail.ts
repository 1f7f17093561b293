import canonicalize from 'canonicalize'

/**
 * The audit log's checks as the hub defines them (src/modules/audit/audit.tree.ts, src/lib/tlog,
 * docs/operations.md "Audit log"), with WebCrypto instead of node:crypto so they run in the browser;
 * test/unit/console-trail.test.ts holds them to the hub's: the RFC 9162 leaf hash of an event, its
 * inclusion proof, and the C2SP signed-note checkpoint signed with the hub's Ed25519 key.
 */
export interface ChainedEvent {
  seq: number
  at: string
  actor: string
  action: string
  target: { type: string; id: string }
  referralId: string | null
  requestId: string | null
  outcome: string
  details: Record<string, unknown>
}

const sha256 = async (...parts: Uint8Array[]): Promise<Uint8Array> => {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) {
    all.set(part, at)
    at += part.length
  }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', all))
}

export const fromBase64 = (text: string): Uint8Array<ArrayBuffer> =>
  Uint8Array.from(atob(text), (c) => c.charCodeAt(0))
const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])

/** SHA-256(0x00 ‖ JCS(event)) over exactly the members of ChainedEvent. */
export async function leafHash(event: ChainedEvent): Promise<Uint8Array> {
  const canonical = canonicalize({
    seq: event.seq,
    at: event.at,
    actor: event.actor,
    action: event.action,
    target: { type: event.target.type, id: event.target.id },
    referralId: event.referralId,
    requestId: event.requestId,
    outcome: event.outcome,
    details: event.details,
  })
  if (canonical === undefined) throw new TypeError('audit event has no JSON form')
  return sha256(Uint8Array.of(0), new TextEncoder().encode(canonical))
}

/** RFC 9162 §2.1.3.2: the proof leads from the leaf at `index` to the root of a tree of `size` leaves. */
export async function inclusionHolds(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): Promise<boolean> {
  if (index < 0 || index >= size) return false
  let fn = index
  let sn = size - 1
  let r = leaf
  for (const p of proof) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(Uint8Array.of(1), p, r)
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2)
        sn = Math.floor(sn / 2)
      }
    } else {
      r = await sha256(Uint8Array.of(1), r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && sameBytes(r, root)
}

/**
 * The checkpoint note's text is exactly (origin, size, rootHash) and one of its signature lines is
 * the hub's: key name = origin, key id = SHA-256(origin ‖ 0x0A ‖ 0x01 ‖ key)[:4], Ed25519 over the text,
 * with one of the hub's public keys (the `x` of its JWKS).
 */
export async function checkpointSigned(
  checkpoint: { origin: string; size: number; rootHash: string; note: string },
  hubKeys: readonly { x?: string | undefined }[],
): Promise<boolean> {
  const split = checkpoint.note.lastIndexOf('\n\n')
  if (split < 0) return false
  const text = checkpoint.note.slice(0, split + 1)
  if (text !== `${checkpoint.origin}\n${checkpoint.size}\n${checkpoint.rootHash}\n`) return false
  const lines = checkpoint.note.slice(split + 2).split('\n')
  const prefix = `\u2014 ${checkpoint.origin} `
  for (const { x } of hubKeys) {
    if (!x) continue
    const raw = fromBase64(
      x
        .replaceAll('-', '+')
        .replaceAll('_', '/')
        .padEnd(Math.ceil(x.length / 4) * 4, '='),
    )
    const name = new TextEncoder().encode(checkpoint.origin)
    const keyId = (await sha256(name, Uint8Array.of(0x0a, 0x01), raw)).slice(0, 4)
    const key = await crypto.subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify'])
    for (const line of lines.filter((l) => l.startsWith(prefix))) {
      const bytes = fromBase64(line.slice(prefix.length))
      if (bytes.length !== 68 || !sameBytes(bytes.slice(0, 4), keyId)) continue
      if (
        await crypto.subtle.verify({ name: 'Ed25519' }, key, bytes.slice(4), new TextEncoder().encode(text))
      ) {
        return true
      }
    }
  }
  return false
}
