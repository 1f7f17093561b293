import { createPrivateKey, generateKeyPairSync } from 'node:crypto'
import t from 'tap'
import {
  cosignatureKeyId,
  cosignatureVerifierKey,
  ed25519PublicKey,
  formatCheckpoint,
  noteKeyId,
  parseCheckpoint,
  parseNote,
  parseTilePath,
  parseVerifierKey,
  signCosignature,
  signNote,
  TlogFormatError,
  TlogSignatureError,
  tilePath,
  verifierKey,
  verifyCosignature,
  verifyNote,
} from '../../src/lib/tlog/index.js'

// The example of golang.org/x/mod/sumdb/note (note_test.go), the reference implementation of C2SP
// signed-note: its verifier key, its signer key (whose seed follows "+A" … after the key ID: the
// base64 of 0x01 ‖ 32-byte Ed25519 seed), its text and its signature line.
const GO_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'
const GO_SKEY_B64 = 'AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz'
const GO_TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
const GO_SIG =
  '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n'
const GO_ENOCH_SIG =
  '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n'

/** An Ed25519 private KeyObject from a 32-byte seed (PKCS#8 prefix of RFC 8410). */
function keyFromSeed(seed: Uint8Array) {
  const prefix = Buffer.from('302e020100300506032b657004220420', 'hex')
  return createPrivateKey({ key: Buffer.concat([prefix, seed]), format: 'der', type: 'pkcs8' })
}

t.test('the Go sumdb note vector: verified, and signed byte for byte the same', async (t) => {
  const { name, publicKey, keyId, type } = parseVerifierKey(GO_VKEY)
  t.equal(name, 'PeterNeumann')
  t.equal(type, 'ed25519')
  t.equal(Buffer.from(keyId).toString('hex'), 'c74f20a3')
  t.equal(verifierKey(name, publicKey), GO_VKEY, 'the verifier key re-encodes to itself')
  const note = `${GO_TEXT}\n${GO_SIG}`
  t.equal(verifyNote(note, name, publicKey), GO_TEXT)
  t.equal(verifyNote(`${GO_TEXT}\n${GO_SIG}${GO_ENOCH_SIG}`, name, publicKey), GO_TEXT, 'other keys ignored')

  const seed = new Uint8Array(Buffer.from(GO_SKEY_B64, 'base64')).slice(1)
  const privateKey = keyFromSeed(seed)
  t.same(ed25519PublicKey(privateKey), publicKey, 'the signer key belongs to the verifier key')
  t.equal(signNote(GO_TEXT, 'PeterNeumann', privateKey), note, 'same note as Go signs')

  const broken = `${GO_TEXT}\n${GO_SIG.slice(0, 60)}ABCD${GO_SIG.slice(60)}`
  t.throws(() => verifyNote(broken, name, publicKey), TlogSignatureError, 'a mangled signature')
  t.throws(() => verifyNote(`${GO_TEXT}\n${GO_ENOCH_SIG}`, name, publicKey), TlogSignatureError, 'no own sig')
  t.throws(() => verifyNote(note.replace('problem,', 'problem;'), name, publicKey), TlogSignatureError)
  // The malformed messages of note_test.go's TestOpen.
  for (const bad of [
    GO_TEXT,
    `${GO_TEXT}\n`,
    `${GO_TEXT}\n${GO_SIG.slice(0, -1)}`,
    `\u0001${GO_TEXT}\n${GO_SIG}`,
    `\uD800${GO_TEXT}\n${GO_SIG}`,
    `${GO_TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
    `${GO_TEXT}\n${GO_SIG}Unexpected line.\n`,
    `${GO_TEXT}\n${GO_SIG.repeat(101)}`,
  ]) {
    t.throws(() => parseNote(bad), TlogFormatError, JSON.stringify(bad.slice(-30)))
  }
  t.equal(parseNote(`${GO_TEXT}\n${GO_SIG.repeat(100)}`).signatures.length, 100)
  // Manglings of the verifier key (as in TestNewVerifier): every one-byte change is refused.
  for (let i = 0; i < GO_VKEY.length; i++) {
    const mangled =
      GO_VKEY.slice(0, i) + String.fromCharCode(GO_VKEY.charCodeAt(i) + 1) + GO_VKEY.slice(i + 1)
    t.throws(() => parseVerifierKey(mangled), TlogFormatError)
  }
  t.throws(() => parseVerifierKey(GO_VKEY.slice(0, -4)), TlogFormatError)
})

t.test('checkpoints: format and parse, refusing what is not canonical', async (t) => {
  const rootHash = new Uint8Array(32).fill(7)
  const text = formatCheckpoint({ origin: 'hub.example.eu/audit', size: 46, rootHash, extensions: [] })
  t.equal(text, `hub.example.eu/audit\n46\n${Buffer.from(rootHash).toString('base64')}\n`)
  t.same(parseCheckpoint(text), { origin: 'hub.example.eu/audit', size: 46, rootHash, extensions: [] })
  const withExtension = formatCheckpoint({ origin: 'o', size: 0, rootHash, extensions: ['x y'] })
  t.same(parseCheckpoint(withExtension).extensions, ['x y'])
  for (const bad of [
    'o\n046\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n',
    'o\n-1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n',
    'o\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBw==\n',
    'o\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=',
    'o\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n\n',
    '\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n',
    'o\n1\n',
  ]) {
    t.throws(() => parseCheckpoint(bad), TlogFormatError, JSON.stringify(bad))
  }
})

t.test('a hub note and a witness cosignature', async (t) => {
  const hub = generateKeyPairSync('ed25519')
  const witness = generateKeyPairSync('ed25519')
  const hubPub = ed25519PublicKey(hub.publicKey)
  const witnessPub = ed25519PublicKey(witness.privateKey)
  const text = formatCheckpoint({
    origin: 'hub.example.eu/audit',
    size: 3,
    rootHash: new Uint8Array(32),
    extensions: [],
  })
  const note = signNote(text, 'hub.example.eu/audit', hub.privateKey)
  t.equal(verifyNote(note, 'hub.example.eu/audit', hubPub), text)
  t.same(parseNote(note).signatures[0]?.keyId, noteKeyId('hub.example.eu/audit', hubPub))

  const line = signCosignature(text, 'witness.example.ro/w1', witness.privateKey, 1_764_800_000)
  t.match(line, /^— witness\.example\.ro\/w1 [A-Za-z0-9+/]+=*\n$/)
  const cosigned = `${note}${line}`
  t.equal(verifyNote(cosigned, 'hub.example.eu/audit', hubPub), text, 'the hub signature still verifies')
  const signature = parseNote(cosigned).signatures[1]
  t.same(signature?.keyId, cosignatureKeyId('witness.example.ro/w1', witnessPub))
  t.equal(signature?.signature.length, 72, 'time (8 bytes) and signature (64)')
  t.same(verifyCosignature(text, line, 'witness.example.ro/w1', witnessPub), { time: 1_764_800_000 })
  t.same(verifyCosignature(text, line.trimEnd(), 'witness.example.ro/w1', witnessPub), {
    time: 1_764_800_000,
  })
  const otherText = text.replace('\n3\n', '\n4\n')
  t.equal(
    verifyCosignature(otherText, line, 'witness.example.ro/w1', witnessPub),
    undefined,
    'another checkpoint',
  )
  t.equal(verifyCosignature(text, line, 'witness.example.ro/w2', witnessPub), undefined, 'another name')
  t.equal(verifyCosignature(text, line, 'witness.example.ro/w1', hubPub), undefined, 'another key')
  t.equal(verifyCosignature(text, 'garbage', 'witness.example.ro/w1', witnessPub), undefined)

  const vkey = cosignatureVerifierKey('witness.example.ro/w1', witnessPub)
  const parsed = parseVerifierKey(vkey)
  t.equal(parsed.type, 'cosignature/v1')
  t.same(parsed.publicKey, witnessPub)
  t.throws(() => signNote('no newline', 'n', hub.privateKey), TlogFormatError)
  t.throws(() => signNote(text, 'a+b', hub.privateKey), TlogFormatError)
})

t.test('tile paths (C2SP tlog-tiles)', async (t) => {
  t.equal(tilePath(0, 0), 'tile/0/000')
  t.equal(tilePath(0, 1234067), 'tile/0/x001/x234/067')
  t.equal(tilePath(1, 5, 17), 'tile/1/005.p/17')
  t.equal(tilePath(2, 1000), 'tile/2/x001/000')
  t.same(parseTilePath('tile/0/x001/x234/067'), { level: 0, index: 1234067, width: 256 })
  t.same(parseTilePath('tile/1/005.p/17'), { level: 1, index: 5, width: 17 })
  for (const bad of [
    'tile/0/1234067',
    'tile/0/x000/067',
    'tile/0/067.p/256',
    'tile/0/067.p/0',
    'tile/64/000',
    'tile/00/000',
    'tile/entries/000',
    'tile/0/x001',
  ]) {
    t.throws(() => parseTilePath(bad), TlogFormatError, bad)
  }
  t.throws(() => tilePath(0, 0, 257), TlogFormatError)
})
