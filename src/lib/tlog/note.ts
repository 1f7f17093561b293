import { createHash, createPublicKey, type KeyObject, sign, verify } from 'node:crypto'
import type { Hash } from './merkle.js'

// C2SP signed-note (https://c2sp.org/signed-note), tlog-checkpoint (https://c2sp.org/tlog-checkpoint)
// and tlog-cosignature (https://c2sp.org/tlog-cosignature), Ed25519 only: the formats of the Go
// checksum database, Sigstore's Rekor v2 and the transparency-log witness network.

/** A note, checkpoint, key or cosignature that does not follow its format. */
export class TlogFormatError extends Error {
  override name = 'TlogFormatError'
}

/** A well-formed note that the expected key did not sign (or whose signature does not verify). */
export class TlogSignatureError extends TlogFormatError {
  override name = 'TlogSignatureError'
}

/** A tlog-checkpoint: the log's origin, its size and root hash, and any extension lines. */
export interface Checkpoint {
  origin: string
  size: number
  rootHash: Hash
  extensions: string[]
}

export interface NoteSignature {
  name: string
  keyId: Uint8Array
  signature: Uint8Array
}

const ED25519 = 0x01
const COSIGNATURE_V1 = 0x04
const SIGNATURE_PREFIX = '— '
const MAX_SIGNATURES = 100
const utf8 = new TextEncoder()

const toBase64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64')
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

/** Standard base64 with padding, and only its canonical spelling (what re-encoding gives back). */
function fromBase64(text: string, what: string): Uint8Array {
  const bytes = new Uint8Array(Buffer.from(text, 'base64'))
  if (text.length === 0 || toBase64(bytes) !== text) throw new TlogFormatError(`${what} is not base64`)
  return bytes
}

function isDecimal(text: string): boolean {
  return /^(0|[1-9][0-9]{0,15})$/.test(text) && Number.isSafeInteger(Number(text))
}

/** A key name: not empty, no whitespace, no "+". */
function assertName(name: string): void {
  if (name.length === 0 || /[\s+]/u.test(name))
    throw new TlogFormatError(`bad key name ${JSON.stringify(name)}`)
}

/** Note text: UTF-8 (no lone surrogates), no control characters but newline, ending in a newline. */
function assertText(text: string): void {
  if (!text.endsWith('\n')) throw new TlogFormatError('note text must end with a newline')
  const control = [...text].some((c) => c !== '\n' && ((c.codePointAt(0) ?? 0) < 0x20 || c === '\u007f'))
  if (control || /\p{Cs}/u.test(text)) {
    throw new TlogFormatError('note text holds a control character or invalid UTF-8')
  }
}

function keyIdOf(name: string, type: number, publicKey: Uint8Array): Uint8Array {
  assertName(name)
  if (publicKey.length !== 32) throw new TlogFormatError('an Ed25519 public key is 32 bytes')
  const digest = createHash('sha256')
    .update(name)
    .update(Uint8Array.of(0x0a, type))
    .update(publicKey)
    .digest()
  return new Uint8Array(digest.subarray(0, 4))
}

/** The key ID of an Ed25519 note key: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]. */
export function noteKeyId(name: string, publicKey: Uint8Array): Uint8Array {
  return keyIdOf(name, ED25519, publicKey)
}

/** The key ID of a cosignature/v1 key: SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4]. */
export function cosignatureKeyId(name: string, publicKey: Uint8Array): Uint8Array {
  return keyIdOf(name, COSIGNATURE_V1, publicKey)
}

/** The verifier key of an Ed25519 note key: "name+hex(key ID)+base64(0x01 ‖ public key)". */
export function verifierKey(name: string, publicKey: Uint8Array): string {
  return `${name}+${toHex(noteKeyId(name, publicKey))}+${toBase64(Uint8Array.of(ED25519, ...publicKey))}`
}

/** The verifier key of a witness's cosignature/v1 key: "name+hex(key ID)+base64(0x04 ‖ public key)". */
export function cosignatureVerifierKey(name: string, publicKey: Uint8Array): string {
  return `${name}+${toHex(cosignatureKeyId(name, publicKey))}+${toBase64(Uint8Array.of(COSIGNATURE_V1, ...publicKey))}`
}

/**
 * Parses a verifier key of type Ed25519 (0x01) or cosignature/v1 (0x04), checking that its key ID
 * is the one its name and key give.
 */
export function parseVerifierKey(vkey: string): {
  name: string
  keyId: Uint8Array
  publicKey: Uint8Array
  type: 'ed25519' | 'cosignature/v1'
} {
  const first = vkey.indexOf('+')
  const second = vkey.indexOf('+', first + 1)
  if (first <= 0 || second < 0) throw new TlogFormatError('a verifier key is name+keyid+key')
  const name = vkey.slice(0, first)
  const hex = vkey.slice(first + 1, second)
  if (!/^[0-9a-f]{8}$/.test(hex)) throw new TlogFormatError('the key ID of a verifier key is 8 hex digits')
  const key = fromBase64(vkey.slice(second + 1), 'the key of a verifier key')
  const type = key[0]
  if (key.length !== 33 || (type !== ED25519 && type !== COSIGNATURE_V1)) {
    throw new TlogFormatError('only Ed25519 (0x01) and cosignature/v1 (0x04) verifier keys are supported')
  }
  const publicKey = key.slice(1)
  const keyId = keyIdOf(name, type, publicKey)
  if (toHex(keyId) !== hex) throw new TlogFormatError('the key ID of the verifier key does not match its key')
  return { name, keyId, publicKey, type: type === ED25519 ? 'ed25519' : 'cosignature/v1' }
}

/** The 32 raw bytes of an Ed25519 public key (from its public or private KeyObject). */
export function ed25519PublicKey(key: KeyObject): Uint8Array {
  const jwk = (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'jwk' })
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new TlogFormatError('not an Ed25519 key')
  return new Uint8Array(Buffer.from(jwk.x, 'base64url'))
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== 32) throw new TlogFormatError('an Ed25519 public key is 32 bytes')
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') },
    format: 'jwk',
  })
}

function signatureLine(name: string, bytes: Uint8Array): string {
  return `${SIGNATURE_PREFIX}${name} ${toBase64(bytes)}\n`
}

/** Signs note text (ending in a newline) with an Ed25519 key: text, a blank line, one signature line. */
export function signNote(text: string, name: string, privateKey: KeyObject): string {
  assertText(text)
  const keyId = noteKeyId(name, ed25519PublicKey(privateKey))
  const signature = sign(null, utf8.encode(text), privateKey)
  return `${text}\n${signatureLine(name, Uint8Array.of(...keyId, ...signature))}`
}

/** Splits a signed note into its text and its signature lines (not verified). */
export function parseNote(note: string): { text: string; signatures: NoteSignature[] } {
  const split = note.lastIndexOf('\n\n')
  if (split < 0) throw new TlogFormatError('a signed note needs a blank line before its signatures')
  const text = note.slice(0, split + 1)
  const block = note.slice(split + 2)
  assertText(text)
  if (!block.endsWith('\n')) throw new TlogFormatError('a signed note ends with a signature line')
  const lines = block.slice(0, -1).split('\n')
  if (lines.length > MAX_SIGNATURES)
    throw new TlogFormatError(`a note has at most ${MAX_SIGNATURES} signatures`)
  const signatures = lines.map((line) => {
    if (!line.startsWith(SIGNATURE_PREFIX)) throw new TlogFormatError('a signature line starts with "— "')
    const [name = '', encoded = '', ...rest] = line.slice(SIGNATURE_PREFIX.length).split(' ')
    assertName(name)
    if (rest.length > 0) throw new TlogFormatError('a signature line is "— name signature"')
    const bytes = fromBase64(encoded, 'a note signature')
    if (bytes.length < 5) throw new TlogFormatError('a note signature is too short')
    return { name, keyId: bytes.slice(0, 4), signature: bytes.slice(4) }
  })
  return { text, signatures }
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i])

/**
 * Verifies that the key (name, Ed25519 public key) signed the note, and returns the note's text.
 * Throws TlogFormatError for a malformed note, TlogSignatureError when that key's signature is
 * missing or does not verify. Signatures by other keys (witnesses' cosignatures) are ignored.
 */
export function verifyNote(note: string, name: string, publicKey: Uint8Array): string {
  const { text, signatures } = parseNote(note)
  const keyId = noteKeyId(name, publicKey)
  const own = signatures.filter((s) => s.name === name && sameBytes(s.keyId, keyId))
  if (own.length === 0) throw new TlogSignatureError(`the note has no signature by ${name}+${toHex(keyId)}`)
  const key = publicKeyObject(publicKey)
  const message = utf8.encode(text)
  for (const s of own) {
    if (s.signature.length !== 64 || !verify(null, message, key, s.signature)) {
      throw new TlogSignatureError(`invalid signature for key ${name}+${toHex(keyId)}`)
    }
  }
  return text
}

/** The checkpoint's note text: origin, size and base64 root hash lines, then extension lines. */
export function formatCheckpoint(c: Checkpoint): string {
  if (c.origin.length === 0 || /[\n\r]/.test(c.origin)) throw new TlogFormatError('bad checkpoint origin')
  if (!Number.isSafeInteger(c.size) || c.size < 0) throw new TlogFormatError('bad checkpoint size')
  if (c.rootHash.length !== 32) throw new TlogFormatError('a root hash is 32 bytes')
  for (const line of c.extensions) {
    if (line.length === 0 || /[\n\r]/.test(line)) throw new TlogFormatError('bad checkpoint extension line')
  }
  const text = [c.origin, String(c.size), toBase64(c.rootHash), ...c.extensions].map((l) => `${l}\n`).join('')
  assertText(text)
  return text
}

/** Parses checkpoint text (the text of the signed note, not the note). */
export function parseCheckpoint(text: string): Checkpoint {
  assertText(text)
  const [origin = '', size = '', root = '', ...extensions] = text.slice(0, -1).split('\n')
  if (origin.length === 0) throw new TlogFormatError('a checkpoint starts with its origin line')
  if (!isDecimal(size)) throw new TlogFormatError('the second line of a checkpoint is its size in decimal')
  const rootHash = fromBase64(root, 'the root hash')
  if (rootHash.length !== 32) throw new TlogFormatError('a root hash is 32 bytes')
  if (extensions.some((l) => l.length === 0)) throw new TlogFormatError('a checkpoint has no empty lines')
  return { origin, size: Number(size), rootHash, extensions }
}

function cosignedMessage(checkpointText: string, time: number): Uint8Array {
  return utf8.encode(`cosignature/v1\ntime ${time}\n${checkpointText}`)
}

/**
 * A witness's cosignature/v1 of checkpoint text at `time` (seconds since the epoch): one note
 * signature line "— name base64(key ID ‖ time as u64 big-endian ‖ signature)", ending in a newline,
 * to append to the checkpoint's note. The signed message is "cosignature/v1\ntime <t>\n" + text.
 */
export function signCosignature(
  checkpointText: string,
  name: string,
  privateKey: KeyObject,
  time: number,
): string {
  assertText(checkpointText)
  if (!Number.isSafeInteger(time) || time < 0) throw new TlogFormatError('bad cosignature time')
  const keyId = cosignatureKeyId(name, ed25519PublicKey(privateKey))
  const timestamp = new Uint8Array(8)
  new DataView(timestamp.buffer).setBigUint64(0, BigInt(time))
  const signature = sign(null, cosignedMessage(checkpointText, time), privateKey)
  return signatureLine(name, Uint8Array.of(...keyId, ...timestamp, ...signature))
}

/**
 * Checks one note signature line (with or without its newline) as the cosignature/v1 of the witness
 * key (name, Ed25519 public key) on the checkpoint text; returns its time, or undefined when the
 * line is another key's or does not verify.
 */
export function verifyCosignature(
  checkpointText: string,
  line: string,
  name: string,
  publicKey: Uint8Array,
): { time: number } | undefined {
  let signature: NoteSignature
  try {
    const parsed = parseNote(`${checkpointText}\n${line.endsWith('\n') ? line : `${line}\n`}`).signatures
    if (parsed.length !== 1 || parsed[0] === undefined) return undefined
    signature = parsed[0]
  } catch {
    return undefined
  }
  if (signature.name !== name || !sameBytes(signature.keyId, cosignatureKeyId(name, publicKey)))
    return undefined
  if (signature.signature.length !== 8 + 64) return undefined
  const time = new DataView(signature.signature.buffer, signature.signature.byteOffset).getBigUint64(0)
  if (time > BigInt(Number.MAX_SAFE_INTEGER)) return undefined
  const ok = verify(
    null,
    cosignedMessage(checkpointText, Number(time)),
    publicKeyObject(publicKey),
    signature.signature.subarray(8),
  )
  return ok ? { time: Number(time) } : undefined
}
