import { createHash, createPublicKey } from 'node:crypto'
import { CompactEncrypt, compactDecrypt, importJWK, type JWK, jwtVerify } from 'jose'
import t from 'tap'
import { verifyCompact } from '../../src/lib/compact-jws.js'
import { decodeCursor } from '../../src/lib/cursor.js'
import { signDetached, WEBHOOK_SIGNATURE_TYP } from '../../src/lib/detached-jws.js'
import { HubError } from '../../src/lib/errors.js'
import { EVIDENCE_TYP } from '../../src/lib/evidence.js'
import { loadHubKeys } from '../../src/lib/hub-keys.js'
import { checkProtectedHeader } from '../../src/lib/jose-safe.js'
import { RECEIPT_TYP, signHubStatement } from '../../src/lib/receipts.js'
import { SensitiveDetailsSchema } from '../../src/lib/sensitive-details.js'
import { ed25519PublicKey, parseCheckpoint, signNote, verifyNote } from '../../src/lib/tlog/index.js'
import { compileInputCheck } from '../../src/lib/validator.js'
import { AcknowledgementDocumentSchema } from '../../src/modules/acknowledgements/acknowledgements.schemas.js'
import {
  assertionTimeProblem,
  MAX_ASSERTION_LIFETIME_SECONDS,
  scopesFor,
} from '../../src/modules/agencies/scopes.core.js'
import { canonicalEvent } from '../../src/modules/audit/audit.core.js'
import { leafOf } from '../../src/modules/audit/audit.tree.js'
import { signAccessToken } from '../../src/modules/auth/access-token.js'
import { escalateIfOverdue } from '../../src/modules/deadlines/deadlines.service.js'
import { isInboxCursor } from '../../src/modules/inbox/inbox.core.js'
import { InboxItemSchema } from '../../src/modules/inbox/inbox.schemas.js'
import { ReferralDocumentSchema } from '../../src/modules/referrals/referral-document.schema.js'
import { checkSensitive } from '../../src/modules/referrals/sensitive.js'
import { ERASURE_REASONS } from '../../src/modules/retention/erasure.service.js'
import { verifyEvidence } from '../../src/sdk/evidence.js'
import {
  createClientAssertion,
  decryptSensitive,
  encryptSensitive,
  signAcknowledgement,
  signReferral,
  verifyReceipt,
  verifyWebhook,
} from '../../src/sdk/index.js'
import { addAgency, type TestAgency } from '../helpers/agencies.js'
import { seal } from '../helpers/audit.js'
import { buildTestApp } from '../helpers/build-app.js'
import { inboxUntil } from '../helpers/inbox.js'
import { ProtocolExamples } from '../helpers/protocol-doc.js'
import { referralDocument } from '../helpers/referrals.js'
import { eventually, WebhookReceiver } from '../helpers/webhook-receiver.js'
import { startTestWorker } from '../helpers/worker.js'

// Every worked example of docs/protocol.md, checked against the code: what the hub signs, hashes
// and checks is made again from the example keys and compared byte for byte, and the same exchange
// against a live hub is compared member by member (names and their order).

// biome-ignore lint/suspicious/noExplicitAny: JSON read from the page and the hub, checked member by member
type Json = Record<string, any>

const doc = await ProtocolExamples.load()
const part = (compact: string, i: number) => Buffer.from(compact.split('.')[i]!, 'base64url')
const decoded = (compact: string, i: number): Json => JSON.parse(part(compact, i).toString('utf8'))
const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes)
const publicOf = ({ d: _d, ...rest }: Json) => rest as JWK & { kid: string }
const keyRow = (jwk: Json) => ({ kid: jwk['kid'], use: jwk['use'], status: 'active', jwk: publicOf(jwk) })

const HUB_URL = 'https://hub.example.eu'
const hubJwk = doc.json('key-hub')
const roSig = doc.json('key-ro-sig')
const deSig = doc.json('key-de-sig')
const deEnc = doc.json('key-de-enc')
const hubKeys = await loadHubKeys({ json: JSON.stringify({ keys: [hubJwk] }), generate: false })
const hubJwks = { keys: [...hubKeys.publicJwks.keys] }

t.test('the example keys are whole key pairs', async (t) => {
  for (const jwk of [hubJwk, roSig, deSig, deEnc]) {
    const derived = createPublicKey({ key: jwk as never, format: 'jwk' }).export({ format: 'jwk' })
    t.equal(derived.x, jwk['x'], `${jwk['kid']}: x is the public half of d`)
    if (jwk['y']) t.equal(derived.y, jwk['y'], `${jwk['kid']}: y too`)
  }
  t.match(hubJwk, { kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' })
  t.match(roSig, { kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' })
  t.match(deSig, { kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' })
  t.match(deEnc, { kty: 'EC', crv: 'P-256', alg: 'ECDH-ES+A256KW', use: 'enc' })
})

const referral = doc.json('referral-document')
const RO = referral['sender'] as string

t.test('client assertion: header, claims, and a signature the agency key verifies', async (t) => {
  const assertion = doc.text('assertion')
  const header = doc.json('assertion-header')
  const claims = doc.json('assertion-claims')
  t.same(decoded(assertion, 0), header)
  t.same(decoded(assertion, 1), claims)
  t.equal(checkProtectedHeader(header as never), undefined, 'a header the hub takes')
  const { payload } = await jwtVerify(assertion, await importJWK(publicOf(roSig), 'EdDSA'), {
    algorithms: ['EdDSA'],
    issuer: RO,
    subject: RO,
    audience: `${HUB_URL}/v1/oauth/token`,
    currentDate: new Date(claims['iat'] * 1000),
  })
  t.same(payload, claims)
  t.equal(assertionTimeProblem(claims as never, claims['iat']), undefined, 'times the hub takes')
  t.ok(claims['exp'] - claims['iat'] <= MAX_ASSERTION_LIFETIME_SECONDS)
  t.type(claims['jti'], 'string')
})

t.test('token response and access token: what the hub signs with the example key', async (t) => {
  const response = doc.json('token-response')
  const claims = doc.json('access-token-claims')
  const token = response['access_token'] as string
  const { payload, protectedHeader } = await jwtVerify(token, await importJWK(publicOf(hubJwk), 'EdDSA'), {
    algorithms: ['EdDSA'],
    typ: 'at+jwt',
    issuer: HUB_URL,
    audience: HUB_URL,
    currentDate: new Date(claims['iat'] * 1000),
  })
  t.same(payload, claims)
  t.same(Object.keys(payload), Object.keys(claims), 'members in the documented order')
  t.equal(protectedHeader.kid, hubJwk['kid'])
  const again = await signAccessToken(
    hubKeys,
    HUB_URL,
    { agencyId: claims['sub'], scopes: claims['scope'].split(' ') },
    response['expires_in'],
    new Date(claims['iat'] * 1000),
  )
  t.equal(again.split('.')[0], token.split('.')[0], 'the same protected header, byte for byte')
  t.same({ ...decoded(again, 1), jti: claims['jti'] }, claims, 'the same claims but the fresh jti')
  t.equal(response['token_type'], 'Bearer')
  t.equal(response['scope'], claims['scope'])
  t.equal(
    claims['scope'],
    scopesFor({ kind: 'ngo', nationalContactPoint: false }).join(' '),
    'an NGO by default',
  )
})

t.test('referral: the document, its JWS and the digest of its payload bytes', async (t) => {
  t.ok(compileInputCheck(ReferralDocumentSchema).Check(referral), 'a valid ReferralDocument')
  const jws = doc.text('referral-jws')
  t.equal(await signReferral(referral, roSig as never), jws, 'signReferral gives the same JWS (Ed25519)')
  t.same(decoded(jws, 0), { alg: 'EdDSA', kid: roSig['kid'], typ: 'trm-referral+json' })
  const payloadBytes = verifyCompact(
    jws,
    createPublicKey({ key: publicOf(roSig) as never, format: 'jwk' }),
    'EdDSA',
  )
  t.ok(payloadBytes, 'the NGO key verifies it')
  t.same(JSON.parse(Buffer.from(payloadBytes!).toString('utf8')), referral)
  t.equal(doc.text('referral-payload-sha256'), sha256(payloadBytes!).digest('base64url'))
})

t.test('sensitive: the plaintext, the header and a JWE the recipient key opens', async (t) => {
  const plaintext = doc.json('sensitive-plaintext')
  const header = doc.json('sensitive-header')
  const jwe = doc.text('sensitive-jwe')
  t.equal(referral['sensitive'], jwe, 'the referral carries it')
  t.ok(compileInputCheck(SensitiveDetailsSchema).Check(plaintext), 'a valid SensitiveDetails')
  t.same(decoded(jwe, 0), header)
  const opened = await compactDecrypt(jwe, await importJWK(deEnc, 'ECDH-ES+A256KW'))
  t.same(JSON.parse(Buffer.from(opened.plaintext).toString('utf8')), plaintext)
  t.same(await decryptSensitive(jwe, deEnc), plaintext, 'decryptSensitive reads it')
  t.equal(checkSensitive(jwe, [keyRow(deEnc)] as never), deEnc['kid'], 'the hub takes its header')
  const made = await encryptSensitive(plaintext as never, publicOf(deEnc))
  const { epk: _epk, ...madeHeader } = decoded(made, 0)
  const { epk: _docEpk, ...docHeader } = header
  t.same(madeHeader, docHeader, 'encryptSensitive writes the documented header')
})

t.test('sensitive: every header requirement the page lists is enforced', async (t) => {
  const recipient = publicOf(deEnc)
  const encrypt = async (protectedHeader: Json, key: Json = recipient) =>
    new CompactEncrypt(new TextEncoder().encode('{"note":"fictional"}'))
      .setProtectedHeader(protectedHeader as never)
      .encrypt(await importJWK({ ...key, alg: protectedHeader['alg'] } as JWK, protectedHeader['alg']))
  const good = { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: recipient.kid, cty: 'application/json' }
  const refused = (jwe: string) => {
    try {
      checkSensitive(jwe, [keyRow(deEnc)] as never)
      return undefined
    } catch (error) {
      return error instanceof HubError ? `${error.code} ${error.errors?.[0]?.pointer}` : String(error)
    }
  }
  for (const cty of ['application/json', 'json', 'APPLICATION/JSON']) {
    t.equal(refused(await encrypt({ ...good, cty })), undefined, `cty ${cty} is taken`)
  }
  const other = await generateEncKey()
  const cases: [string, string][] = [
    ['alg ECDH-ES', await encrypt({ ...good, alg: 'ECDH-ES' })],
    ['enc A128GCM', await encrypt({ ...good, enc: 'A128GCM' })],
    ['no kid', await encrypt({ alg: good.alg, enc: good.enc, cty: good.cty })],
    ['a kid that is not the recipient key', await encrypt({ ...good, kid: 'someone-else' }, other)],
    ['no cty', await encrypt({ alg: good.alg, enc: good.enc, kid: good.kid })],
    ['cty text/plain', await encrypt({ ...good, cty: 'text/plain' })],
    ['cty application/jose', await encrypt({ ...good, cty: 'application/jose' })],
    ['zip', await encrypt({ ...good, zip: 'DEF' })],
    ['jku', await encrypt({ ...good, jku: 'https://attacker.example/jwks' })],
  ]
  for (const [name, jwe] of cases)
    t.equal(refused(jwe), 'TRM_SENSITIVE_INVALID /sensitive', `refused: ${name}`)
})

async function generateEncKey() {
  const { generateKeyPair, exportJWK } = await import('jose')
  const { publicKey } = await generateKeyPair('ECDH-ES+A256KW', { crv: 'P-256', extractable: true })
  return { ...(await exportJWK(publicKey)), kid: 'someone-else', use: 'enc' }
}

t.test('receipt: header, payload bytes and the JWS the example hub key makes', async (t) => {
  const receipt = doc.text('receipt')
  const payloadText = doc.text('receipt-payload')
  t.same(decoded(receipt, 0), doc.json('receipt-header'))
  t.equal(part(receipt, 1).toString('utf8'), payloadText, 'the payload bytes as shown')
  const claims = JSON.parse(payloadText)
  t.equal(await signHubStatement(hubKeys, RECEIPT_TYP, claims), receipt, 'the hub signs exactly this')
  t.same(await verifyReceipt(receipt, hubJwks), claims, 'verifyReceipt takes it')
  t.equal(claims.payloadSha256, doc.text('referral-payload-sha256'))
  t.equal(claims.referralId, referral['id'])
  t.equal(claims.sender, referral['sender'])
  const answer = doc.json('submission-response')
  t.equal(answer['receipt'], receipt)
  t.equal(answer['recipient'].agencyId, claims.recipient)
  t.equal(answer['submittedAt'], claims.receivedAt)
  t.equal(answer['id'], referral['id'])
  t.equal(new Date(answer['ackDueAt']).getTime() - new Date(answer['submittedAt']).getTime(), 24 * 3600_000)
})

t.test('evidence: header, payload bytes, the JWS the example hub key makes, its inbox message', async (t) => {
  const evidence = doc.text('evidence')
  const payloadText = doc.text('evidence-payload')
  t.same(decoded(evidence, 0), doc.json('evidence-header'))
  t.equal(part(evidence, 1).toString('utf8'), payloadText, 'the payload bytes as shown')
  const claims = JSON.parse(payloadText)
  t.equal(await signHubStatement(hubKeys, EVIDENCE_TYP, claims), evidence, 'the hub signs exactly this')
  t.same(await verifyEvidence(evidence, hubJwks), claims, 'verifyEvidence takes it')
  const receipt = JSON.parse(doc.text('receipt-payload'))
  t.same(
    [claims.referralId, claims.recipient, claims.payloadSha256],
    [receipt.referralId, receipt.recipient, receipt.payloadSha256],
  )
  const message = doc.json('inbox-evidence')
  t.ok(compileInputCheck(InboxItemSchema).Check(message), 'a valid InboxItem')
  t.same(message['body'], { event: claims.event, evidence })
  t.equal(message['createdAt'], claims.at)
})

t.test('acknowledgement: document, JWS, receipt', async (t) => {
  const ack = doc.json('ack-document')
  const jws = doc.text('ack-jws')
  t.ok(compileInputCheck(AcknowledgementDocumentSchema).Check(ack), 'a valid AcknowledgementDocument')
  t.equal(ack['referralId'], referral['id'])
  t.same(decoded(jws, 0), { alg: 'ES256', kid: deSig['kid'], typ: 'trm-ack+json' })
  const bytes = verifyCompact(jws, createPublicKey({ key: publicOf(deSig) as never, format: 'jwk' }), 'ES256')
  t.ok(bytes, 'the NCP key verifies it')
  t.same(JSON.parse(Buffer.from(bytes!).toString('utf8')), ack)
  const payloadText = doc.text('ack-receipt-payload')
  const claims = JSON.parse(payloadText)
  const receipt = doc.text('ack-receipt')
  t.equal(part(receipt, 1).toString('utf8'), payloadText)
  t.equal(await signHubStatement(hubKeys, RECEIPT_TYP, claims), receipt, 'the hub signs exactly this')
  t.same(claims, {
    acknowledgementId: ack['id'],
    referralId: referral['id'],
    author: doc.json('submission-response')['recipient'].agencyId,
    payloadSha256: sha256(bytes!).digest('base64url'),
    receivedAt: claims.receivedAt,
  })
  const answer = doc.json('ack-response')
  t.same(answer, {
    id: ack['id'],
    referralId: referral['id'],
    type: ack['type'],
    status: 'accepted',
    submittedAt: claims.receivedAt,
    receipt,
  })
})

const INBOX_EXAMPLES = ['referral', 'status', 'acknowledgement', 'escalation', 'erasure'] as const

t.test('inbox messages: valid items, carrying what the page says', async (t) => {
  const check = compileInputCheck(InboxItemSchema)
  const items = Object.fromEntries(INBOX_EXAMPLES.map((type) => [type, doc.json(`inbox-${type}`)]))
  for (const [type, item] of Object.entries(items)) {
    t.ok(check.Check(item), `${type} is an InboxItem`)
    t.equal(item['type'], type)
    t.equal(item['referralId'], referral['id'])
    t.ok(decodeCursor(item['cursor'], isInboxCursor), `${type}: a cursor the hub reads`)
  }
  t.equal(items['referral']!['jws'], doc.text('referral-jws'))
  t.equal(items['acknowledgement']!['jws'], doc.text('ack-jws'))
  t.equal(items['acknowledgement']!['acknowledgementId'], doc.json('ack-document')['id'])
  t.same(items['status']!['body'], { status: 'delivered', via: 'inbox' })
  t.same(Object.keys(items['escalation']!['body']), ['ackDueAt', 'status'])
  t.equal(items['escalation']!['body'].ackDueAt, doc.json('submission-response')['ackDueAt'])
  t.ok(ERASURE_REASONS.includes(items['erasure']!['body'].reason))
})

t.test('webhook request: the body, and the detached signature the example hub key makes', async (t) => {
  const request = doc.text('webhook-request')
  const [head, body, ...rest] = request.split('\n\n')
  t.equal(rest.length, 0)
  const [requestLine, ...headerLines] = head!.split('\n')
  t.match(requestLine, /^POST \S+ HTTP\/1\.1$/)
  const headers = Object.fromEntries(
    headerLines.map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]),
  )
  t.same(Object.keys(headers).sort(), [
    'content-type',
    'host',
    'trm-message-id',
    'trm-signature',
    'user-agent',
  ])
  t.equal(headers['content-type'], 'application/json')
  t.equal(headers['user-agent'], 'trm-hub-webhook/1')
  const status = doc.json('inbox-status')
  t.equal(body, JSON.stringify(status), 'the body is the inbox item without whitespace')
  t.equal(headers['trm-message-id'], status['id'])
  const bytes = Buffer.from(body!, 'utf8')
  t.equal(
    await signDetached(hubKeys, WEBHOOK_SIGNATURE_TYP, bytes),
    headers['trm-signature'],
    'signed as shown',
  )
  t.match(headers['trm-signature'], /^[\w-]+\.\.[\w-]+$/, 'detached: the middle part is empty')
  t.same(decoded(headers['trm-signature']!, 0), doc.json('webhook-signature-header'))
  t.same(await verifyWebhook(bytes, headers['trm-signature']!, hubJwks), status, 'verifyWebhook takes it')
  const altered = Buffer.from(body!.replace('"inbox"', '"webhook"'))
  await t.rejects(verifyWebhook(altered, headers['trm-signature']!, hubJwks), 'another body does not verify')
})

t.test(
  'audit: the leaf input, the leaf hash, and the checkpoint note the example hub key makes',
  async (t) => {
    const event = doc.json('audit-event')
    const input = doc.text('audit-hash-input')
    const { index, leafHash, ...chained } = event
    t.equal(index, event['seq'] - 1, 'index = seq − 1')
    t.equal(input, canonicalEvent(chained as never), 'JCS(event)')
    const hashed = sha256(Buffer.concat([Buffer.of(0), Buffer.from(input, 'utf8')])).digest('base64')
    t.equal(hashed, leafHash, 'leafHash = SHA-256(0x00 ‖ that text)')
    t.equal(Buffer.from(leafOf(chained as never)).toString('base64'), leafHash, 'as the sealer computes it')
    const text = `${doc.text('checkpoint-payload')}\n` // the blocks show the note without its final newline
    const checkpoint = `${doc.text('checkpoint')}\n`
    t.equal(parseCheckpoint(text).origin, 'hub.example.eu/audit')
    t.equal(
      signNote(text, 'hub.example.eu/audit', hubKeys.current.signingKey),
      checkpoint,
      'the hub signs exactly this',
    )
    t.equal(
      verifyNote(checkpoint, 'hub.example.eu/audit', ed25519PublicKey(hubKeys.current.signingKey)),
      text,
    )
  },
)

t.test('a live hub answers in the documented shapes', async (t) => {
  const { app, config } = await buildTestApp(t)
  const receiver = new WebhookReceiver()
  const webhookUrl = await receiver.start()
  t.teardown(() => receiver.close())
  const requests: Json[] = []
  receiver.behaviour = (_n, request) => {
    requests.push(request.headers)
    return 204
  }
  await startTestWorker(t, config, app.hubKeys)
  const ro = await addAgency(app, { country: 'RO', push: webhookUrl })
  const de = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
  const liveJwks = (await app.inject('/.well-known/jwks.json')).json()
  const keysInOrder = (value: Json) => Object.keys(value)
  // RO takes webhooks: its webhook's 2xx confirms a message, which then leaves its inbox listing, so a
  // message of RO's is looked for in its inbox and in what its webhook received (the same JSON).
  const roMessage = (match: (message: Json) => boolean): Promise<Json> =>
    eventually(
      async () => {
        const listed = (await inboxUntil(ro, () => true)).find(match)
        return listed ?? receiver.received.map((w) => JSON.parse(w.body.toString('utf8')) as Json).find(match)
      },
      "the message in RO's inbox or webhooks",
      60_000,
    )

  t.test('tokens', async (t) => {
    const form = async (audience: string) =>
      new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await createClientAssertion(ro.id, ro.keys.signing, audience),
      }).toString()
    const post = async (audience: string) =>
      app.inject({
        method: 'POST',
        url: '/v1/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: await form(audience),
      })
    const metadata = (await app.inject('/.well-known/oauth-authorization-server')).json()
    const byEndpoint = await post(metadata.token_endpoint)
    t.equal(byEndpoint.statusCode, 200, 'aud = token_endpoint')
    t.equal((await post(metadata.issuer)).statusCode, 200, 'aud = issuer')
    t.equal((await post(`${config.publicUrl}/elsewhere`)).statusCode, 401, 'any other aud is refused')
    const response = byEndpoint.json()
    t.same(keysInOrder(response), keysInOrder(doc.json('token-response')))
    const claims = decoded(response.access_token, 1)
    t.same(keysInOrder(claims), keysInOrder(doc.json('access-token-claims')))
    t.equal(claims['iss'], config.publicUrl)
    t.equal(claims['aud'], config.publicUrl, 'the token aud is the issuer')
    t.equal(claims['sub'], ro.id)
    t.equal(decoded(response.access_token, 0)['typ'], 'at+jwt')
  })

  const plaintext = doc.json('sensitive-plaintext')
  const deEncLive = de.keys.publicJwks.keys.find((k) => k.use === 'enc')!
  const document = referralDocument(
    ro,
    { country: 'DE' },
    {
      sensitive: await encryptSensitive(plaintext as never, deEncLive as never),
    },
  )
  const jws = await signReferral(document, ro.keys.signing)
  let submitted: Json = {}

  t.test('referral, receipt, replays', async (t) => {
    submitted = await ro.client.request<Json>('POST', '/v1/referrals', { jws })
    t.same(keysInOrder(submitted), keysInOrder(doc.json('submission-response')))
    const receipt = submitted['receipt'] as string
    t.same(keysInOrder(decoded(receipt, 0)), keysInOrder(doc.json('receipt-header')))
    t.match(decoded(receipt, 0), { alg: 'EdDSA', typ: 'trm-receipt+json', kid: app.hubKeys.current.kid })
    const claims = await verifyReceipt(receipt, liveJwks)
    t.same(keysInOrder(claims), keysInOrder(JSON.parse(doc.text('receipt-payload'))))
    t.same(claims, {
      referralId: document.id,
      sender: ro.id,
      recipient: de.id,
      payloadSha256: sha256(part(jws, 1)).digest('base64url'),
      receivedAt: submitted['submittedAt'],
    })
    const replay = await app.inject({
      method: 'POST',
      url: '/v1/referrals',
      headers: { authorization: `Bearer ${await ro.client.accessToken()}` },
      payload: { jws },
    })
    t.equal(replay.statusCode, 200, 'the same JWS again: 200')
    t.equal(replay.json().receipt, receipt, 'with the first receipt')
    const { CompactSign } = await import('jose')
    const signAgain = async (payload: Uint8Array) =>
      new CompactSign(payload)
        .setProtectedHeader(decoded(jws, 0) as never)
        .sign(await importJWK(ro.keys.signing, 'ES256'))
    const post = async (body: string) =>
      app.inject({
        method: 'POST',
        url: '/v1/referrals',
        headers: { authorization: `Bearer ${await ro.client.accessToken()}` },
        payload: { jws: body },
      })
    const resigned = await signAgain(part(jws, 1))
    t.not(resigned, jws, 'ES256: a new signature over the same bytes')
    const again = await post(resigned)
    t.equal(again.statusCode, 200, 'the same payload bytes under a new signature: 200')
    t.equal(again.json().receipt, receipt, 'with the first receipt')
    const pretty = Buffer.from(JSON.stringify(document, null, 2))
    const mismatch = await post(await signAgain(pretty))
    t.equal(mismatch.statusCode, 422, 'the same document in other bytes is not a replay')
    t.match(mismatch.json(), { code: 'TRM_DUPLICATE_MISMATCH', errors: [{ pointer: '/id' }] })
  })

  t.test('a sensitive JWE with another cty is refused at /sensitive', async (t) => {
    const jwe = await new CompactEncrypt(new TextEncoder().encode('Fictional text, not JSON'))
      .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: deEncLive.kid, cty: 'text/plain' })
      .encrypt(await importJWK({ ...deEncLive, alg: 'ECDH-ES+A256KW' } as JWK, 'ECDH-ES+A256KW'))
    const bad = referralDocument(ro, { country: 'DE' }, { sensitive: jwe })
    const response = await app.inject({
      method: 'POST',
      url: '/v1/referrals',
      headers: { authorization: `Bearer ${await ro.client.accessToken()}` },
      payload: { jws: await signReferral(bad, ro.keys.signing) },
    })
    t.equal(response.statusCode, 422)
    t.match(response.json(), { code: 'TRM_SENSITIVE_INVALID', errors: [{ pointer: '/sensitive' }] })
    t.notOk(await app.db.selectFrom('referrals').select('id').where('id', '=', bad.id).executeTakeFirst())
  })

  t.test('inbox messages, acknowledgements and webhooks', async (t) => {
    const [item] = await inboxUntil(de, (items) => items.some((i) => i['referralId'] === document.id))
    t.ok(item)
    t.same(keysInOrder(item!), keysInOrder(doc.json('inbox-referral')))
    t.equal(item!['jws'], jws, 'the JWS as the sender signed it')
    t.same(await decryptSensitive(decoded(jws, 1)['sensitive'], de.keys.encryption), plaintext)
    await de.client.request('POST', '/v1/inbox/confirm', { through: item!['cursor'] })

    const status = await roMessage((i) => i['type'] === 'status')
    t.same(keysInOrder(status!), keysInOrder(doc.json('inbox-status')))
    t.same(status!['body'], doc.json('inbox-status')['body'], 'delivered via the inbox')

    const ack = async (type: 'received' | 'accepted') => {
      const body = {
        id: crypto.randomUUID(),
        referralId: document.id,
        type,
        createdAt: new Date().toISOString(),
      }
      const ackJws = await signAcknowledgement(body, de.keys.signing)
      const answer = await de.client.request<Json>('POST', `/v1/referrals/${document.id}/acknowledgements`, {
        jws: ackJws,
      })
      return { body, ackJws, answer }
    }
    await ack('received')
    const accepted = await ack('accepted')
    t.same(keysInOrder(accepted.answer), keysInOrder(doc.json('ack-response')))
    t.equal(accepted.answer['status'], 'accepted')
    const ackClaims = await verifyReceipt(accepted.answer['receipt'], liveJwks)
    t.same(keysInOrder(ackClaims), keysInOrder(JSON.parse(doc.text('ack-receipt-payload'))))
    t.match(ackClaims, {
      acknowledgementId: accepted.body.id,
      referralId: document.id,
      author: de.id,
      payloadSha256: sha256(part(accepted.ackJws, 1)).digest('base64url'),
      receivedAt: accepted.answer['submittedAt'],
    })
    const ackItem = await roMessage((i) => i['acknowledgementId'] === accepted.body.id)
    t.same(keysInOrder(ackItem!), keysInOrder(doc.json('inbox-acknowledgement')))
    t.equal(ackItem!['jws'], accepted.ackJws)

    // RO takes webhooks: the status message and both acknowledgements came as signed POSTs too.
    await receiver.waitFor(3, 15_000)
    for (const [i, webhook] of receiver.received.entries()) {
      const message = await verifyWebhook(webhook.body, webhook.signature, liveJwks)
      t.equal(webhook.body.toString('utf8'), JSON.stringify(message), 'the body has no whitespace')
      t.equal(webhook.messageId, message.id)
      t.equal(webhook.contentType, 'application/json')
      t.equal(requests[i]!['user-agent'], 'trm-hub-webhook/1')
      t.same(keysInOrder(decoded(webhook.signature, 0)), keysInOrder(doc.json('webhook-signature-header')))
      t.match(decoded(webhook.signature, 0), { alg: 'EdDSA', typ: 'trm-webhook+jws' })
      t.same(keysInOrder(message), keysInOrder(doc.json(`inbox-${message.type as 'status'}`)))
    }
  })

  t.test('escalation and erasure messages', async (t) => {
    const late = referralDocument(ro, { agencyId: de.id })
    const answer = await ro.client.request<Json>('POST', '/v1/referrals', {
      jws: await signReferral(late, ro.keys.signing),
    })
    const outcome = await escalateIfOverdue(
      {
        db: app.db,
        config: app.config,
        hubKeys: app.hubKeys,
        now: () => new Date(Date.parse(answer['ackDueAt']) + 1000),
      },
      late.id,
    )
    t.match(outcome, { outcome: 'escalated' })
    const escalation = (
      await inboxUntil(de, (items) =>
        items.some((i) => i['type'] === 'escalation' && i['referralId'] === late.id),
      )
    ).find((i) => i['type'] === 'escalation' && i['referralId'] === late.id)
    t.same(keysInOrder(escalation!), keysInOrder(doc.json('inbox-escalation')))
    t.same(escalation!['body'], { ackDueAt: answer['ackDueAt'], status: 'submitted' })
    const evidence = await roMessage((i) => i['type'] === 'evidence' && i['referralId'] === late.id)
    t.same(keysInOrder(evidence!), keysInOrder(doc.json('inbox-evidence')))
    t.same(keysInOrder(evidence!['body']), keysInOrder(doc.json('inbox-evidence')['body']))
    t.same(keysInOrder(decoded(evidence!['body'].evidence, 0)), keysInOrder(doc.json('evidence-header')))
    const evidenceClaims = await verifyEvidence(evidence!['body'].evidence, liveJwks)
    t.same(keysInOrder(evidenceClaims), keysInOrder(JSON.parse(doc.text('evidence-payload'))))
    t.match(evidenceClaims, { referralId: late.id, event: 'non_retrieval', recipient: de.id })

    await ro.client.request('POST', `/v1/referrals/${late.id}/erasure`, { reason: 'data_subject_request' })
    for (const agency of [ro, de] as TestAgency[]) {
      const erasure = (
        await inboxUntil(agency, (items) =>
          items.some((i) => i['type'] === 'erasure' && i['referralId'] === late.id),
        )
      ).find((i) => i['type'] === 'erasure' && i['referralId'] === late.id)
      t.same(keysInOrder(erasure!), keysInOrder(doc.json('inbox-erasure')))
      t.same(erasure!['body'], { reason: 'data_subject_request' })
    }
  })

  t.test('audit trail and checkpoint', async (t) => {
    await seal(app)
    const trail = await ro.client.request<Json>('GET', `/v1/referrals/${document.id}/audit`)
    t.ok(trail['events'].length > 0)
    for (const event of trail['events'] as Json[]) {
      const { proof, ...shown } = event
      t.same(keysInOrder(shown), keysInOrder(doc.json('audit-event')))
      t.ok(Array.isArray(proof))
    }
    const checkpoint = trail['checkpoint'] as Json
    t.same(keysInOrder(checkpoint), ['origin', 'size', 'rootHash', 'at', 'note', 'cosignatures'])
    const text = checkpoint['note'].slice(0, checkpoint['note'].lastIndexOf('\n\n') + 1)
    t.equal(text.split('\n').length, doc.text('checkpoint-payload').split('\n').length + 1)
    const latest = await ro.client.request<Json>('GET', '/v1/audit/checkpoint')
    t.same(keysInOrder(latest), keysInOrder(checkpoint))
  })
})

t.test('every tagged example of docs/protocol.md was checked', async (t) => {
  t.same(doc.unchecked(), [], 'no example:<name> block is left unchecked')
  t.ok(doc.read.size >= 30, `${doc.read.size} examples checked`)
})
