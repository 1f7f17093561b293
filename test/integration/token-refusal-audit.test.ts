import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { importJWK, SignJWT } from 'jose'
import t from 'tap'
import { refusalKeys } from '../../src/modules/auth/token-refusals.js'
import { createClientAssertion } from '../../src/sdk/client-assertion.js'
import { generateAgencyKeys } from '../../src/sdk/keys.js'
import { addAgency, type TestAgency } from '../helpers/agencies.js'
import { seal } from '../helpers/audit.js'
import { buildTestApp } from '../helpers/build-app.js'
import { REDIS_URL } from '../helpers/env.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'

// Issue 14, point 6: a token.refused event must not name the iss of an assertion that did not verify
// as its actor (agency A's own audit view showed refusals an attacker caused by claiming to be A), and
// one client address cannot write refusal events without bound.

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
type Json = Record<string, unknown>

function postToken(app: FastifyInstance, assertion: string, remoteAddress = '127.0.0.1') {
  return app.inject({
    method: 'POST',
    url: '/v1/oauth/token',
    remoteAddress,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: assertion,
    }).toString(),
  })
}

/** An assertion claiming to be `victim`, naming its kid, signed with a key that is not its own. */
async function forgedAssertion(app: FastifyInstance, victim: TestAgency) {
  const attacker = await generateAgencyKeys('ES256')
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: victim.keys.signing.kid, typ: 'JWT' })
    .setIssuer(victim.id)
    .setSubject(victim.id)
    .setAudience(`${app.config.publicUrl}/v1/oauth/token`)
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .setJti(randomUUID())
    .sign(await importJWK(attacker.signing, 'ES256'))
}

const refusedEvents = (app: FastifyInstance) =>
  app.db
    .selectFrom('audit_events')
    .select(['actor', 'target_id', 'details', 'request_id'])
    .where('action', '=', 'token.refused')
    .orderBy('id')
    .execute()

t.test(
  "a forged assertion claiming agency A is not in A's audit view; the claimed issuer is in details",
  async (t) => {
    const { app } = await buildTestApp(t)
    const operator = await addAgency(app, { kind: 'hub_operator', country: 'BE' })
    const a = await addAgency(app, { country: 'RO' })
    await a.client.accessToken()

    const forged = await postToken(app, await forgedAssertion(app, a))
    t.equal(forged.statusCode, 401, 'the forgery is refused')
    const unknownKid = await postToken(
      app,
      await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: 'a-kid-A-never-had', typ: 'JWT' })
        .setIssuer(a.id)
        .setSubject(a.id)
        .setAudience(`${app.config.publicUrl}/v1/oauth/token`)
        .setIssuedAt()
        .setExpirationTime('1m')
        .setJti(randomUUID())
        .sign(await importJWK((await generateAgencyKeys('ES256')).signing, 'ES256')),
    )
    t.equal(unknownKid.statusCode, 401)
    // A refusal of what A's own key signed (a replayed assertion) is A's, and stays in A's view.
    const own = await createClientAssertion(a.id, a.keys.signing, `${app.config.publicUrl}/v1/oauth/token`)
    t.equal((await postToken(app, own)).statusCode, 200)
    t.equal((await postToken(app, own)).statusCode, 401, 'the replay is refused')

    const events = await refusedEvents(app)
    t.equal(events.length, 3)
    const [first, second, replay] = [events[0]!, events[1]!, events[2]!]
    for (const event of [first, second]) {
      t.equal(event['actor'], 'anonymous', 'the actor of an unverified assertion is anonymous')
      t.not(event['target_id'], a.id, 'nor is A named as the target')
      t.match(event['details'], { error: 'invalid_client', claimedIssuer: a.id, signatureVerified: false })
    }
    t.match(replay, { actor: a.id, details: { claimedIssuer: a.id, signatureVerified: true } })

    await seal(app)
    const view = await a.client.request<{ items: Json[] }>('GET', '/v1/audit?action=token.refused')
    t.same(
      view.items.map((e) => e['requestId']),
      [replay['request_id']],
      "A's view holds the refusal of its own assertion, not the forgeries",
    )
    const everything = await a.client.request<{ items: Json[] }>('GET', '/v1/audit')
    t.notOk(
      everything.items.some((e) => e['actor'] === 'anonymous'),
      "no anonymous event in A's whole view",
    )
    const operatorView = await operator.client.request<{ items: Json[] }>(
      'GET',
      '/v1/audit?action=token.refused',
    )
    t.equal(operatorView.items.length, 3, 'the operator sees every refusal')
  },
)

t.test('a flood of refusals from one address writes at most N events; the rest are counted', async (t) => {
  const perMinute = 5
  const { app, config } = await buildTestApp(t, { AUDIT_TOKEN_REFUSALS_PER_MINUTE: String(perMinute) })
  const a = await addAgency(app, { country: 'RO' })
  const flooder = '192.0.2.10'
  const extra = 7

  const statuses: number[] = []
  for (let i = 0; i < perMinute + extra; i += 1) {
    statuses.push((await postToken(app, await forgedAssertion(app, a), flooder)).statusCode)
  }
  t.same(new Set(statuses), new Set([401]), 'every one is refused')
  t.equal((await refusedEvents(app)).length, perMinute, `only ${perMinute} events written`)

  t.equal((await postToken(app, await forgedAssertion(app, a), '192.0.2.11')).statusCode, 401)
  t.equal((await refusedEvents(app)).length, perMinute + 1, 'another address has a budget of its own')

  // The window ends (its key expires): the next refusal from the flooder is written, with the count.
  await app.redis.del(refusalKeys(config.queuePrefix, flooder).window)
  t.equal((await postToken(app, await forgedAssertion(app, a), flooder)).statusCode, 401)
  const events = await refusedEvents(app)
  t.equal(events.length, perMinute + 2)
  t.match(events.at(-1)!.details, { unrecordedBefore: extra }, 'the refusals not written are counted in it')
})

t.test('with Redis away, refusals are still audited (the budget fails open)', async (t) => {
  const redisTarget = new URL(REDIS_URL)
  const proxy = new TcpProxy(redisTarget.hostname, Number(redisTarget.port || 6379))
  await proxy.start()
  t.teardown(() => proxy.stop())
  const { app } = await buildTestApp(t, {
    REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
    AUDIT_TOKEN_REFUSALS_PER_MINUTE: '2',
  })
  const a = await addAgency(app, { country: 'RO' })
  await proxy.stop()
  for (let i = 0; i < 4; i += 1) {
    t.equal((await postToken(app, await forgedAssertion(app, a), '192.0.2.20')).statusCode, 401)
  }
  t.equal((await refusedEvents(app)).length, 4, 'each refusal written while the shared budget is unknown')
})
