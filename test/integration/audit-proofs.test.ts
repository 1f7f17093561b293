import { generateKeyPairSync } from 'node:crypto'
import path from 'node:path'
import t from 'tap'
import { witnessOnce } from '../../src/cli/witness.js'
import {
  cosignatureVerifierKey,
  ed25519PublicKey,
  parseNote,
  signCosignature,
  TILE_WIDTH,
  verifierKey,
} from '../../src/lib/tlog/index.js'
import { recordAuditEvent } from '../../src/modules/ledger/audit.service.js'
import {
  type AuditCheckpointJson,
  AuditProofError,
  type AuditTrailJson,
  type ConsistencyProofJson,
  type InclusionProofJson,
  verifyCheckpoint,
  verifyConsistency,
  verifyInclusion,
  verifyTrail,
} from '../../src/sdk/audit-log.js'
import { signReferral } from '../../src/sdk/documents.js'
import type { HubRequestError } from '../../src/sdk/hub-client.js'
import { addAgency, injectFetch } from '../helpers/agencies.js'
import { chainRows, fillerEvents, seal } from '../helpers/audit.js'
import { buildTestApp } from '../helpers/build-app.js'
import { referralDocument } from '../helpers/referrals.js'

const witness = generateKeyPairSync('ed25519')
const WITNESS = 'witness.example.eu'
const witnessVkey = cosignatureVerifierKey(WITNESS, ed25519PublicKey(witness.publicKey))
const stranger = generateKeyPairSync('ed25519')

const status = (promise: Promise<unknown>) =>
  promise.then(
    () => 200,
    (error: HubRequestError) => error.status,
  )

t.test('proofs, tiles and cosignatures from the HTTP API verify with the SDK', async (t) => {
  const { app } = await buildTestApp(t, { AUDIT_WITNESS_KEYS: witnessVkey })
  const origin = app.config.auditLog.origin
  const jwks = (await app.inject('/.well-known/jwks.json')).json()
  const hubVkey = verifierKey(origin, new Uint8Array(Buffer.from(jwks.keys[0].x, 'base64url')))
  const operator = await addAgency(app, { kind: 'hub_operator', country: 'BE' })
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
  const fr = await addAgency(app, { country: 'FR' })
  const roToDe = referralDocument(ro, { agencyId: de.id })
  await ro.client.request('POST', '/v1/referrals', { jws: await signReferral(roToDe, ro.keys.signing) })
  const frToDe = referralDocument(fr, { agencyId: de.id })
  await fr.client.request('POST', '/v1/referrals', { jws: await signReferral(frToDe, fr.keys.signing) })
  // A few hundred leaves, sealed in uneven batches: several checkpoints and a full tile.
  await fillerEvents(app, 290)
  await seal(app, 37)
  const leaves = await chainRows(app)
  const size = leaves.length
  t.ok(size > TILE_WIDTH, `${size} leaves`)

  const checkpoint = await operator.client.request<AuditCheckpointJson>('GET', '/v1/audit/checkpoint')
  t.equal(checkpoint.size, size)
  const verified = verifyCheckpoint(checkpoint, hubVkey)
  t.equal(verified.size, size, 'the checkpoint verifies with the hub vkey')
  const sizes = await app.db
    .selectFrom('audit_tree_checkpoints')
    .select(['size', 'root'])
    .orderBy('size')
    .execute()
  t.ok(sizes.length >= 8, 'a checkpoint per batch')

  t.test(
    'every inclusion proof at the latest size, and at an earlier one; a flipped hash fails',
    async (t) => {
      let good = 0
      for (const leaf of leaves) {
        const proof = await operator.client.request<InclusionProofJson>(
          'GET',
          `/v1/audit/proofs/inclusion?index=${leaf.index}&size=${size}`,
        )
        verifyInclusion(leaf.hash, proof, checkpoint)
        good += 1
        if (leaf.index % 29 === 0 && proof.hashes.length > 0) {
          const flipped = Buffer.from(proof.hashes[0]!, 'base64')
          flipped[0]! ^= 1
          const bad = { ...proof, hashes: [flipped.toString('base64'), ...proof.hashes.slice(1)] }
          t.throws(() => verifyInclusion(leaf.hash, bad, checkpoint), AuditProofError)
        }
      }
      t.equal(good, size, 'all verify')
      const earlier = sizes[3]!
      const old = { size: earlier.size, rootHash: Buffer.from(earlier.root).toString('base64') }
      for (const leaf of leaves.slice(0, earlier.size)) {
        const proof = await operator.client.request<InclusionProofJson>(
          'GET',
          `/v1/audit/proofs/inclusion?index=${leaf.index}&size=${earlier.size}`,
        )
        verifyInclusion(leaf.hash, proof, old)
      }
    },
  )

  t.test(
    'every consistency proof between stored checkpoints and to the latest; a flipped hash fails',
    async (t) => {
      for (const [n, older] of sizes.entries()) {
        for (const newer of sizes.slice(n)) {
          const proof = await app.inject(`/v1/audit/proofs/consistency?from=${older.size}&to=${newer.size}`)
          t.equal(proof.statusCode, 200, 'no token needed')
          const body = proof.json<ConsistencyProofJson>()
          const a = { size: older.size, rootHash: Buffer.from(older.root) }
          const b = { size: newer.size, rootHash: Buffer.from(newer.root) }
          verifyConsistency(body, a, b)
          if (body.hashes.length > 0) {
            const flipped = Buffer.from(body.hashes.at(-1)!, 'base64')
            flipped[31]! ^= 1
            const bad = { ...body, hashes: [...body.hashes.slice(0, -1), flipped.toString('base64')] }
            t.throws(() => verifyConsistency(bad, a, b), AuditProofError)
          }
        }
      }
      for (let from = 1; from <= size; from += 7) {
        const body = (await app.inject(`/v1/audit/proofs/consistency?from=${from}&to=${size}`)).json()
        t.ok(body.hashes.length <= 2 * Math.ceil(Math.log2(size)) + 1)
      }
    },
  )

  t.test('sizes beyond the latest checkpoint are refused with 400', async (t) => {
    const inclusion = await app.inject({
      url: `/v1/audit/proofs/inclusion?index=0&size=${size + 1}`,
      headers: { authorization: `Bearer ${await operator.client.accessToken()}` },
    })
    t.equal(inclusion.statusCode, 400)
    t.equal(inclusion.json().code, 'TRM_AUDIT_TREE_SIZE')
    const consistency = await app.inject(`/v1/audit/proofs/consistency?from=1&to=${size + 1}`)
    t.equal(consistency.statusCode, 400)
    t.equal(consistency.json().code, 'TRM_AUDIT_TREE_SIZE')
  })

  t.test('an agency gets inclusion proofs for the leaves it may see only', async (t) => {
    const submitted = (id: string) =>
      leaves.find((l) => l.action === 'referral.submitted' && l.target_id === id)!
    const own = submitted(roToDe.id)
    const foreign = submitted(frToDe.id)
    const proof = await ro.client.request<InclusionProofJson>(
      'GET',
      `/v1/audit/proofs/inclusion?index=${own.index}&size=${size}`,
    )
    verifyInclusion(own.hash, proof, checkpoint)
    t.equal(
      await status(
        ro.client.request('GET', `/v1/audit/proofs/inclusion?index=${foreign.index}&size=${size}`),
      ),
      404,
    )
    t.equal(
      await status(
        de.client.request('GET', `/v1/audit/proofs/inclusion?index=${foreign.index}&size=${size}`),
      ),
      200,
      'the recipient is a party',
    )
    const filler = leaves.find((l) => l.action === 'test.filler')!
    t.equal(
      await status(ro.client.request('GET', `/v1/audit/proofs/inclusion?index=${filler.index}&size=${size}`)),
      404,
    )
    t.equal(
      await status(
        operator.client.request('GET', `/v1/audit/proofs/inclusion?index=${filler.index}&size=${size}`),
      ),
      200,
    )
    // Its own trail, checked with its token and the hub key alone.
    const trail = await ro.client.request<AuditTrailJson>('GET', `/v1/referrals/${roToDe.id}/audit`)
    t.match(verifyTrail(trail, hubVkey), { events: 1 })
  })

  t.test('tiles: full and partial, immutable, the hashes of the tree', async (t) => {
    const full = await app.inject('/v1/audit/tile/0/000')
    t.equal(full.statusCode, 200, full.statusCode === 200 ? 'a full tile' : full.body)
    t.match(full.headers['cache-control'], /immutable/)
    t.equal(full.headers['content-type'], 'application/octet-stream')
    t.same(full.rawPayload, Buffer.concat(leaves.slice(0, TILE_WIDTH).map((l) => Buffer.from(l.hash))))
    const width = size - TILE_WIDTH
    const partial = await app.inject(`/v1/audit/tile/0/001.p/${width}`)
    t.equal(partial.statusCode, 200)
    t.same(partial.rawPayload, Buffer.concat(leaves.slice(TILE_WIDTH).map((l) => Buffer.from(l.hash))))
    const level1 = await app.inject('/v1/audit/tile/1/000.p/1')
    t.equal(level1.statusCode, 200)
    t.equal(level1.rawPayload.length, 32)
    t.equal((await app.inject(`/v1/audit/tile/0/001.p/${width + 1}`)).statusCode, 404, 'not there yet')
    t.equal((await app.inject('/v1/audit/tile/0/001')).statusCode, 404)
    t.equal((await app.inject('/v1/audit/tile/0/1')).statusCode, 404, 'not a canonical path')
  })

  t.test('witnesses: listed, a registered cosignature accepted, others refused with 422', async (t) => {
    t.same((await app.inject('/v1/audit/witnesses')).json(), [{ name: WITNESS, key: witnessVkey }])
    const note = (await app.inject('/v1/audit/checkpoint')).body
    const { text } = parseNote(note)
    const line = signCosignature(text, WITNESS, witness.privateKey, 1_800_000_000)
    const post = (body: string, type = 'text/plain; charset=utf-8') =>
      app.inject({
        method: 'POST',
        url: '/v1/audit/checkpoint/cosignatures',
        headers: { 'content-type': type },
        payload: body,
      })
    const byStranger = signCosignature(text, WITNESS, stranger.privateKey, 1_800_000_000)
    const refused = await post(`${note}${byStranger}`)
    t.equal(refused.statusCode, 422, refused.body)
    t.equal(refused.json().code, 'TRM_COSIGNATURE_REFUSED')
    const otherText = text.replace(`\n${size}\n`, `\n${size - 1}\n`)
    const wrongText = await post(
      `${otherText}\n${signCosignature(otherText, WITNESS, witness.privateKey, 1)}`,
    )
    t.equal(wrongText.statusCode, 422, 'a checkpoint text the hub did not sign')

    const accepted = await post(JSON.stringify({ note: `${note}${line}` }), 'application/json')
    t.equal(accepted.statusCode, 200, accepted.body)
    t.same(accepted.json().cosignatures, [{ name: WITNESS, time: 1_800_000_000, line: line.trimEnd() }])
    const cosigned = (await app.inject('/v1/audit/checkpoint')).body
    t.equal(cosigned, `${note}${line}`, 'the note now carries the cosignature')
    t.match(verifyCheckpoint(cosigned, hubVkey, { witnesses: [witnessVkey], k: 1 }), {
      witnesses: [{ name: WITNESS, time: 1_800_000_000 }],
    })
  })
})

t.test('trm witness cosigns the real hub, round after round, with consistency proofs', async (t) => {
  const { app } = await buildTestApp(t, { AUDIT_WITNESS_KEYS: witnessVkey })
  const origin = app.config.auditLog.origin
  const jwks = (await app.inject('/.well-known/jwks.json')).json()
  const hubVkey = verifierKey(origin, new Uint8Array(Buffer.from(jwks.keys[0].x, 'base64url')))
  const dir = t.testdir({})
  const deps = { fetch: injectFetch(app), now: () => Date.now(), out: () => {} }
  const record = (n: number) =>
    recordAuditEvent(app.db, {
      actor: 'system',
      action: 'test.filler',
      target: { type: 'test', id: String(n) },
      outcome: 'success',
    })
  let state = { name: WITNESS, logKey: hubVkey, size: 0, rootHash: null as string | null }
  for (let round = 1; round <= 3; round += 1) {
    for (let n = 0; n < 40 * round; n += 1) await record(n)
    await seal(app)
    state = await witnessOnce(
      app.config.publicUrl,
      path.join(dir, 'state.json'),
      state,
      witness.privateKey,
      deps,
    )
    const checkpoint = (
      await app.inject({ url: '/v1/audit/checkpoint', headers: { accept: 'application/json' } })
    ).json()
    t.equal(state.size, checkpoint.size, `round ${round}: cosigned the latest`)
    t.match(checkpoint.cosignatures, [{ name: WITNESS }])
    t.ok(verifyCheckpoint(checkpoint.note, hubVkey, { witnesses: [witnessVkey], k: 1 }))
  }
})
