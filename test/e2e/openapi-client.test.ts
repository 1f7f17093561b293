import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import t from 'tap'
import { CLIENT_TYPES_PATH, generateClientTypes, OPENAPI_PATH } from '../../scripts/openapi.js'
import { signAcknowledgement, signReferral, verifyAgencySignature } from '../../src/sdk/documents.js'
import { addAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { pollsWaiting } from '../helpers/inbox.js'
import { acknowledgement } from '../helpers/lifecycle.js'
import { referralDocument } from '../helpers/referrals.js'
import { eventually } from '../helpers/webhook-receiver.js'

const run = promisify(execFile)
const here = new URL('.', import.meta.url)

t.test('end to end through a client generated from openapi/openapi.json', async (t) => {
  // 1. Generate the client types from the committed document, check they are the committed ones, and
  //    compile the client code against them.
  const document = await readFile(OPENAPI_PATH, 'utf8')
  t.equal(
    await readFile(CLIENT_TYPES_PATH, 'utf8'),
    await generateClientTypes(document),
    'client types up to date',
  )
  const tsc = await run('npx', ['tsc', '-p', new URL('tsconfig.json', here).pathname], {
    timeout: 120_000,
  }).then(
    () => ({ code: 0, out: '' }),
    (error: { code: number; stdout: string }) => ({ code: error.code, out: error.stdout }),
  )
  t.equal(tsc.code, 0, `the generated client compiles: ${tsc.out}`)
  const flow = await import('./client-flow.js')

  // 2. A real HTTP server.
  const { app } = await buildTestApp(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const baseUrl = `http://127.0.0.1:${port}`
  const ro = await addAgency(app, { country: 'RO', kind: 'ngo' })
  const de = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
  // The assertion's audience is the hub's own token URL (PUBLIC_URL), whatever address we reach it by.
  const audience = `${app.config.publicUrl}/v1/oauth/token`
  const roApi = await flow.agencyClient(baseUrl, ro.id, ro.keys, audience)
  const deApi = await flow.agencyClient(baseUrl, de.id, de.keys, audience)

  // 3. RO refers to DE's national contact point; DE's waiting long-poll is woken with it (without a
  //    wake-up it would answer empty at the end of its 20 s).
  const referral = referralDocument(ro, { country: 'DE' })
  const poll = flow.pollInbox(deApi, 20)
  await pollsWaiting(app, 1, "DE's poll to wait")
  const submitted = await flow.submit(roApi, await signReferral(referral, ro.keys.signing))
  t.equal(submitted.recipient.agencyId, de.id)
  const inbox = await poll
  t.equal(inbox.items.length, 1, 'woken with the referral')
  const message = inbox.items.find((m) => m.referralId === referral.id)!
  t.equal(message.type, 'referral')
  t.equal(await flow.confirm(deApi, message.cursor), 1)
  t.equal((await flow.referral(roApi, referral.id)).status, 'delivered')

  // 4. DE acknowledges received, accepted, closed; RO's inbox shows each.
  for (const type of ['received', 'accepted', 'closed'] as const) {
    const result = await flow.acknowledge(
      deApi,
      referral.id,
      await signAcknowledgement(acknowledgement(referral.id, type), de.keys.signing),
    )
    t.equal(result.status, type)
  }
  // Readable once every older transaction (in the whole database) has ended: look until all three
  // are there, giving up after 30 s.
  const acks = await eventually(
    async () => {
      const roInbox = await flow.pollInbox(roApi, 0)
      const found = roInbox.items.filter((m) => m.referralId === referral.id && m.type === 'acknowledgement')
      return found.length >= 3 ? found : undefined
    },
    'the three acknowledgements in the sender inbox',
    30_000,
  )
  t.equal(acks.length, 3)

  // 5. Every JWS verifies against the directory; the final state is closed.
  const roKeys = await flow.agencyJwks(deApi, ro.id)
  const deKeys = await flow.agencyJwks(roApi, de.id)
  t.same(await verifyAgencySignature(message.jws!, roKeys as never), referral)
  const types = []
  for (const ack of acks)
    types.push(((await verifyAgencySignature(ack.jws!, deKeys as never)) as { type: string }).type)
  t.same(types, ['received', 'accepted', 'closed'])
  const final = await flow.referral(roApi, referral.id)
  t.equal(final.status, 'closed')
  t.equal(final.acknowledgements.length, 3)
})
