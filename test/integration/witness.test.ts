import { generateKeyPairSync } from 'node:crypto'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { runCli } from '../../src/cli/main.js'
import {
  consistencyProof,
  cosignatureVerifierKey,
  ed25519PublicKey,
  formatCheckpoint,
  type Hash,
  leafHash,
  parseVerifierKey,
  rootOf,
  signNote,
  verifierKey,
  verifyCosignature,
} from '../../src/lib/tlog/index.js'

// `trm witness` against a stand-in hub: a node:http server serving the checkpoint, consistency and
// cosignature endpoints in the shapes of GET /v1/audit/checkpoint, GET /v1/audit/proofs/consistency
// and POST /v1/audit/checkpoint/cosignatures. (The end-to-end test against the real hub comes with it.)

const ORIGIN = 'hub.example.eu/audit'
const WITNESS = 'witness.ncp.example.ro'
const hub = generateKeyPairSync('ed25519')
const witness = generateKeyPairSync('ed25519')
const leaves = Array.from({ length: 60 }, (_, i) => leafHash(new TextEncoder().encode(`fake event ${i + 1}`)))
const forked = leaves.map((h, i) =>
  i === 2 ? leafHash(new TextEncoder().encode('fake event 3, rewritten')) : h,
)

/** What the stand-in hub shows: the tree and its size. */
const shown = { tree: leaves as readonly Hash[], size: 10 }
const posted: string[] = []

const server = createServer((request, response) => {
  const url = new URL(request.url ?? '/', 'http://hub')
  const tree = shown.tree.slice(0, shown.size)
  if (request.method === 'GET' && url.pathname === '/v1/audit/checkpoint') {
    const text = formatCheckpoint({
      origin: ORIGIN,
      size: tree.length,
      rootHash: rootOf(tree),
      extensions: [],
    })
    response
      .writeHead(200, { 'content-type': 'text/plain; charset=utf-8' })
      .end(signNote(text, ORIGIN, hub.privateKey))
    return
  }
  if (request.method === 'GET' && url.pathname === '/v1/audit/proofs/consistency') {
    const from = Number(url.searchParams.get('from'))
    const to = Number(url.searchParams.get('to'))
    const hashes = consistencyProof(from, shown.tree.slice(0, to)).map((h) =>
      Buffer.from(h).toString('base64'),
    )
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ from, to, hashes }))
    return
  }
  if (request.method === 'POST' && url.pathname === '/v1/audit/checkpoint/cosignatures') {
    let body = ''
    request.on('data', (chunk) => {
      body += chunk
    })
    request.on('end', () => {
      posted.push(body)
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
    return
  }
  response.writeHead(404).end()
})

t.before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
})
t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))

async function trm(...args: string[]) {
  let stderr = ''
  const code = await runCli(args, { out: () => {}, err: (text) => (stderr += text) })
  return { code, stderr }
}

t.test('trm witness cosigns a growing log and refuses a fork and a rollback', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'trm-witness-'))
  const keyFile = path.join(dir, 'witness.jwk')
  const stateFile = path.join(dir, 'state.json')
  await writeFile(keyFile, JSON.stringify(witness.privateKey.export({ format: 'jwk' })), { mode: 0o600 })
  const hubUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const logKey = verifierKey(ORIGIN, ed25519PublicKey(hub.publicKey))
  const base = ['witness', '--hub', hubUrl, '--key', keyFile, '--state', stateFile, '--once']
  const state = async () => JSON.parse(await readFile(stateFile, 'utf8'))
  const lastCosignature = () => {
    const body = posted.at(-1) ?? ''
    const text = body.slice(0, body.indexOf('\n\n') + 1)
    return verifyCosignature(text, body.slice(text.length + 1), WITNESS, ed25519PublicKey(witness.publicKey))
  }

  const first = await trm(...base)
  t.equal(first.code, 2, 'the first run needs --name and --log-key')
  t.match(first.stderr, /--name .* --log-key/)

  t.equal((await trm(...base, '--name', WITNESS, '--log-key', logKey)).code, 0)
  t.match(await state(), { name: WITNESS, logKey, size: 10 })
  t.ok(lastCosignature(), 'posted a valid cosignature of size 10')

  shown.size = 33
  t.equal((await trm(...base)).code, 0, 'later runs need only the state')
  t.match(await state(), { size: 33 })
  t.equal(posted.length, 2)
  t.ok(lastCosignature())

  shown.tree = forked
  shown.size = 45
  const fork = await trm(...base)
  t.equal(fork.code, 1, 'a fork: exit 1')
  t.match(fork.stderr, /refused to cosign: fork: the tree of 45 leaves does not extend the tree of 33 leaves/)
  t.match(await state(), { size: 33 }, 'the state keeps the last honest checkpoint')
  t.equal(posted.length, 2, 'nothing posted')

  shown.tree = leaves
  shown.size = 20
  const rollback = await trm(...base)
  t.equal(rollback.code, 1, 'a rollback: exit 1')
  t.match(rollback.stderr, /refused to cosign: rollback/)
  t.equal(posted.length, 2)

  shown.size = 60
  t.equal((await trm(...base)).code, 0, 'the honest log, grown, is cosigned again')
  t.match(await state(), { size: 60 })

  const other = generateKeyPairSync('ed25519')
  const wrongKey = await trm(...base, '--log-key', verifierKey(ORIGIN, ed25519PublicKey(other.publicKey)))
  t.equal(wrongKey.code, 1)
  t.match(wrongKey.stderr, /refused to cosign: bad-signature/)
  t.match(await state(), { logKey, size: 60 }, 'a log key that verified nothing is not kept')

  const unreachable = await trm(
    'witness',
    '--hub',
    'http://127.0.0.1:9',
    '--key',
    keyFile,
    '--state',
    stateFile,
    '--once',
  )
  t.equal(unreachable.code, 1)
  t.match(unreachable.stderr, /cannot reach http:\/\/127\.0\.0\.1:9\/v1\/audit\/checkpoint/)
  t.match(await state(), { size: 60 }, 'the state is untouched')

  const vkey = cosignatureVerifierKey(WITNESS, ed25519PublicKey(witness.publicKey))
  t.equal(parseVerifierKey(vkey).type, 'cosignature/v1', 'the key the operator registers')
})

t.test('a PEM key works too; a key that is not Ed25519 is bad usage', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'trm-witness-'))
  const pem = path.join(dir, 'witness.pem')
  await writeFile(pem, witness.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
  const hubUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const logKey = verifierKey(ORIGIN, ed25519PublicKey(hub.publicKey))
  const stateFile = path.join(dir, 'state.json')
  const args = [
    'witness',
    '--hub',
    hubUrl,
    '--state',
    stateFile,
    '--once',
    '--name',
    WITNESS,
    '--log-key',
    logKey,
  ]
  t.equal((await trm(...args, '--key', pem)).code, 0)
  const keysDir = path.join(dir, 'keys')
  t.equal((await trm('keys', 'generate', '--alg', 'EdDSA', '--out', keysDir)).code, 0)
  const generated = await trm(
    ...args,
    '--state',
    path.join(dir, 'other.json'),
    '--key',
    path.join(keysDir, 'signing.private.jwk.json'),
  )
  t.equal(generated.code, 0, 'the signing key of `trm keys generate --alg EdDSA` works')
  const ec = path.join(dir, 'ec.pem')
  await writeFile(
    ec,
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }),
  )
  const bad = await trm(...args, '--key', ec)
  t.equal(bad.code, 2)
  t.match(bad.stderr, /must be an Ed25519 private key/)
})
