import path from 'node:path'
import { sql } from 'kysely'
import t from 'tap'
import { generateHubKey } from '../../src/lib/hub-keys.js'
import {
  parseVerifierKey,
  sameHash,
  verifierKey,
  verifyInclusion,
  verifyNote,
} from '../../src/lib/tlog/index.js'
import { canonicalEvent } from '../../src/modules/audit/audit.core.js'
import { leafOf } from '../../src/modules/audit/audit.tree.js'
import { AuditRangeError } from '../../src/modules/audit/audit.verify.js'
import { signReferral } from '../../src/sdk/documents.js'
import { HubClient, type HubRequestError } from '../../src/sdk/hub-client.js'
import { generateAgencyKeys } from '../../src/sdk/keys.js'
import { addAgency, injectFetch } from '../helpers/agencies.js'
import { chainRows, runTrm, seal, tamper, verify } from '../helpers/audit.js'
import { buildTestApp } from '../helpers/build-app.js'
import { referralDocument } from '../helpers/referrals.js'

type Json = Record<string, any>
const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a refusal')
    },
    (error: HubRequestError) => ({ status: error.status, body: error.body as Json }),
  )

t.test('every step of a run through the API is in the sealed, verifiable log', async (t) => {
  const { app, config } = await buildTestApp(t)
  const hubJwks = (await app.inject('/.well-known/jwks.json')).json()
  const operator = await addAgency(app, { kind: 'hub_operator', country: 'BE' })

  const none = await refusal(operator.client.request('GET', '/v1/audit/checkpoint'))
  t.equal(none.status, 404, 'no checkpoint before anything is sealed')

  // Register two agencies through the directory; each then gets a token on its first call.
  const register = async (country: string, kind: string, ncp = false) => {
    const keys = await generateAgencyKeys()
    const agency = await operator.client.request<{ id: string }>('POST', '/v1/agencies', {
      name: `Fictional ${kind} ${country}`,
      country,
      kind,
      nationalContactPoint: ncp,
      jwks: keys.publicJwks,
    })
    const client = new HubClient({
      baseUrl: app.config.publicUrl,
      agencyId: agency.id,
      signingKey: keys.signing,
      fetch: injectFetch(app),
    })
    return { id: agency.id, keys, client, country }
  }
  const ro = await register('RO', 'ngo')
  const de = await register('DE', 'national_agency', true)
  const document = referralDocument(ro, { country: 'DE' })
  await ro.client.request('POST', '/v1/referrals', { jws: await signReferral(document, ro.keys.signing) })
  await de.client.request('GET', `/v1/referrals/${document.id}`)
  await ro.client.request('GET', '/v1/referrals?role=sent')

  // DE's read is the recipient's first: it issues RO's retrieval evidence, audited (issue 19).
  t.equal(await seal(app), 10)
  const rows = await chainRows(app)
  const steps = rows.map((r) => [r.actor, r.action, r.target_type, r.target_id])
  t.same(steps, [
    ['test-setup', 'agency.created', 'agency', operator.id],
    [operator.id, 'token.issued', 'token', operator.id],
    [operator.id, 'agency.created', 'agency', ro.id],
    [operator.id, 'agency.created', 'agency', de.id],
    [ro.id, 'token.issued', 'token', ro.id],
    [ro.id, 'referral.submitted', 'referral', document.id],
    [de.id, 'token.issued', 'token', de.id],
    [de.id, 'referral.read', 'referral', document.id],
    ['system', 'evidence.issued', 'referral', document.id],
    [ro.id, 'referral.listed', 'referral_list', ro.id],
  ])
  t.same(
    rows.map((r) => r.seq),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  )
  const root = await app.db.selectFrom('audit_tree_checkpoints').select('root').executeTakeFirstOrThrow()
  t.same(await verify(app), {
    intact: true,
    fromSeq: 1,
    throughSeq: 10,
    headHash: Buffer.from(root.root).toString('base64'),
    events: 10,
    checkpoints: 1,
    break: null,
  })
  const hubKey = new Uint8Array(Buffer.from(hubJwks.keys[0].x, 'base64url'))
  const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'))

  t.test('operators list everything, in leaf order, paged, and can recompute every leaf hash', async (t) => {
    const first = await operator.client.request<{ items: Json[]; next: string }>('GET', '/v1/audit?limit=5')
    t.same(
      first.items.map((e) => e['seq']),
      [1, 2, 3, 4, 5],
    )
    await seal(app)
    const second = await operator.client.request<{ items: Json[]; next: string | null }>(
      'GET',
      `/v1/audit?limit=6&after=${first.next}`,
    )
    t.same(
      second.items.map((e) => e['seq']),
      [6, 7, 8, 9, 10, 11],
      'the first listing was audited and sealed after it',
    )
    for (const event of [...first.items, ...second.items]) {
      const { index, leafHash, ...chained } = event
      t.equal(index, event['seq'] - 1)
      t.equal(
        Buffer.from(leafOf(chained as never)).toString('base64'),
        leafHash,
        `seq ${event['seq']} recomputes from the API answer`,
      )
      t.ok(canonicalEvent(chained as never).length > 0)
    }
    t.match(second.items[0], {
      seq: 6,
      actor: ro.id,
      action: 'referral.submitted',
      target: { type: 'referral', id: document.id },
      referralId: document.id,
      requestId: /^[0-9a-f-]{36}$/,
      outcome: 'success',
      details: { recipient: de.id, urgency: 'urgent' },
      at: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/,
    })
    t.match(second.items[5], { seq: 11, actor: operator.id, action: 'audit.listed' })
    const submitted = await operator.client.request<{ items: Json[] }>(
      'GET',
      `/v1/audit?action=referral.submitted&referralId=${document.id}`,
    )
    t.same(
      submitted.items.map((e) => e['seq']),
      [6],
    )
  })

  t.test('the checkpoint is a note signed by the hub; the JSON form says the same', async (t) => {
    await seal(app)
    const text = await app.inject({ url: '/v1/audit/checkpoint' })
    t.equal(text.statusCode, 200, 'no token needed')
    t.equal(text.headers['content-type'], 'text/plain; charset=utf-8')
    const json = await de.client.request<Json>('GET', '/v1/audit/checkpoint')
    t.equal(json['note'], text.body)
    t.equal(json['origin'], app.config.auditLog.origin)
    const signed = verifyNote(text.body, json['origin'], hubKey)
    t.equal(signed, `${json['origin']}\n${json['size']}\n${json['rootHash']}\n`)
    t.same(json['cosignatures'], [])
    const vkey = parseVerifierKey(verifierKey(json['origin'], hubKey))
    t.equal(vkey.name, app.config.auditLog.origin)
    const head = (await chainRows(app)).at(-1)!
    t.equal(json['size'], head.seq, 'over every sealed event')
  })

  t.test('a referral trail for its parties, each event with an inclusion proof', async (t) => {
    await seal(app)
    const trail = await ro.client.request<Json>('GET', `/v1/referrals/${document.id}/audit`)
    t.same(
      trail['events'].map((e: Json) => e['action']),
      ['referral.submitted', 'referral.read', 'evidence.issued'],
    )
    const { size, rootHash } = trail['checkpoint']
    for (const e of trail['events']) {
      const { index, leafHash, proof, ...chained } = e
      t.ok(sameHash(leafOf(chained as never), b64(leafHash)), 'the leaf hash recomputes')
      t.ok(
        verifyInclusion(b64(leafHash), index, size, proof.map(b64), b64(rootHash)),
        `leaf ${index} is in the tree`,
      )
    }
    t.ok(verifyNote(trail['checkpoint']['note'], trail['checkpoint']['origin'], hubKey))
    t.equal(trail['pending'], 0)
    const again = await de.client.request<Json>('GET', `/v1/referrals/${document.id}/audit`)
    t.equal(again['pending'], 1, "RO's reading of the trail waits for the sealer")
    t.equal(again['events'].length, 3)
  })

  t.test('the trm command verifies the tree, and fails naming the seq after tampering', async (t) => {
    await seal(app)
    const verifyWith = (...args: string[]) => runTrm(config, ['audit', 'verify', ...args])
    // Independent read-only runs, side by side: each costs a process start.
    const otherHub = await generateHubKey()
    const dir = t.testdir({
      'hub.jwks.json': JSON.stringify(hubJwks),
      'other.jwks.json': JSON.stringify({ keys: [{ ...otherHub, d: undefined, kid: hubJwks.keys[0].kid }] }),
    })
    const [intact, from, word, published, other] = await Promise.all([
      verifyWith(),
      verifyWith('--from', '6'),
      verifyWith('--from', 'six'),
      verifyWith('--jwks', path.join(dir, 'hub.jwks.json')),
      verifyWith('--jwks', path.join(dir, 'other.jwks.json')),
    ])
    t.equal(intact.code, 0, 'exit 0 when intact', { stderr: intact.stderr })
    t.match(
      intact.stdout,
      /^audit log intact: seq 1 to \d+ \(\d+ events\), \d+ signed checkpoints?\nroot [A-Za-z0-9+/]{43}=\n$/,
    )
    t.equal(from.code, 0, '--from 6: exit 0', { stderr: from.stderr })
    t.match(from.stdout, /^audit log intact: seq 6 to /)
    t.equal(word.code, 2, '--from six: exit 2, bad usage')
    t.match(word.stderr, /--from <seq>' argument 'six' is invalid\. It must be a seq/)
    await t.rejects(verify(app, 100_000), AuditRangeError, '--from past the end is bad usage too')
    t.equal(published.code, 0, 'the published JWKS is enough to verify', { stderr: published.stderr })
    t.equal(other.code, 1, 'another key under the same kid is not')
    t.match(other.stdout, /^audit log broken at seq \d+ \(index \d+\): forged-checkpoint: /)

    await tamper(
      app,
      'audit_events',
      sql`update audit_events set actor = ${ro.id} where id = (select event_id from audit_leaves where index = 7)`,
    )
    const [broken, json] = await Promise.all([verifyWith(), verifyWith('--json')])
    t.equal(broken.code, 1, 'exit 1 after tampering', { stderr: broken.stderr })
    t.match(broken.stdout, /^audit log broken at seq 8 \(index 7\): changed: /)
    t.match(broken.stdout, /verified before the break: seq 1 to 7 \(7 events\)/)
    t.equal(json.code, 1)
    t.match(JSON.parse(json.stdout), {
      intact: false,
      throughSeq: 7,
      break: { seq: 8, index: 7, kind: 'changed' },
    })
  })
})

t.test('an agency sees only what it caused and what is about its referrals; operators see all', async (t) => {
  const { app } = await buildTestApp(t)
  const operator = await addAgency(app, { kind: 'hub_operator', country: 'BE' })
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
  const fr = await addAgency(app, { country: 'FR' })
  const submit = async (from: typeof ro, to: typeof ro) => {
    const document = referralDocument(from, { agencyId: to.id })
    await from.client.request('POST', '/v1/referrals', {
      jws: await signReferral(document, from.keys.signing),
    })
    await to.client.request('GET', `/v1/referrals/${document.id}`)
    return document.id
  }
  const roToDe = await submit(ro, de)
  const frToDe = await submit(fr, de)
  const roToFr = await submit(ro, fr)
  await seal(app)

  const all = async (agency: typeof ro, query = '') => {
    const items: Json[] = []
    let next: string | null = null
    do {
      const page: { items: Json[]; next: string | null } = await agency.client.request(
        'GET',
        `/v1/audit?limit=3${query}${next ? `&after=${next}` : ''}`,
      )
      items.push(...page.items)
      next = page.next
    } while (next)
    return items
  }
  const everything = (await all(operator)).filter((e) => e['action'] !== 'audit.listed')
  t.ok(everything.length >= 13, 'the operator sees every event')
  for (const [agency, parties] of [
    [ro, [roToDe, roToFr]],
    [de, [roToDe, frToDe]],
    [fr, [frToDe, roToFr]],
  ] as const) {
    const seen = await all(agency)
    const expected = everything.filter(
      (e) => e['actor'] === agency.id || (parties as readonly string[]).includes(e['referralId']),
    )
    t.same(
      seen.filter((e) => e['action'] !== 'audit.listed').map((e) => e['seq']),
      expected.map((e) => e['seq']),
      `${agency.country}: its own events and those of its referrals, nothing else`,
    )
    t.ok(
      seen.every(
        (e) =>
          e['actor'] === agency.id ||
          (e['referralId'] && (parties as readonly string[]).includes(e['referralId'])),
      ),
      'every event it sees is its own or about its referrals',
    )
    const other = [roToDe, frToDe, roToFr].find((id) => !(parties as readonly string[]).includes(id))!
    t.same(await all(agency, `&referralId=${other}`), [], 'filtering on a foreign referral shows nothing')
    const trail = await refusal(agency.client.request('GET', `/v1/referrals/${other}/audit`))
    const read = await refusal(agency.client.request('GET', `/v1/referrals/${other}`))
    t.equal(trail.status, 404, 'the trail of a foreign referral does not exist for it')
    t.same(trail.body['detail'], read.body['detail'], 'with the same answer as the referral itself')
  }
  const guessed = await refusal(
    ro.client.request('GET', '/v1/referrals/0d9d4b52-0000-4000-8000-000000000000/audit'),
  )
  t.equal(guessed.status, 404, 'a guessed id: the same 404')
  const bad = await refusal(ro.client.request('GET', '/v1/audit?after=not-a-cursor'))
  t.equal(bad.status, 400, 'a cursor the hub did not issue')
  t.equal(bad.body['code'], 'TRM_VALIDATION')
})
