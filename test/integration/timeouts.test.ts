import net from 'node:net'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { addAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { eventually } from '../helpers/webhook-receiver.js'

// Deadlines small enough for a test; what is asserted is the outcome, never the time it took.
const SETTINGS = { REQUEST_TIMEOUT_MS: '500' }
const BOUND_MS = 20_000

async function listening(app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  return (app.server.address() as net.AddressInfo).port
}

interface Trickled {
  /** What the server answered before it closed the connection. */
  response: string
  /** Bytes of the body sent when the connection closed (fewer than announced: it never ended). */
  sent: number
}

/**
 * Sends `head` (request line and headers), then a byte every 20 ms: never the whole request. Resolves
 * when the server closes the connection; fails if it has not within BOUND_MS.
 */
function trickle(port: number, head: string, bodyLength = 0): Promise<Trickled> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let response = ''
    let sent = 0
    const bound = setTimeout(() => {
      clearInterval(drip)
      socket.destroy()
      reject(new Error(`the server kept the connection open ${BOUND_MS} ms (sent ${sent} bytes)`))
    }, BOUND_MS)
    const drip = setInterval(() => {
      if (!socket.writable) return
      if (bodyLength === 0) {
        socket.write('x') // a header line that never ends
        return
      }
      if (sent < bodyLength - 1) {
        socket.write('a')
        sent += 1
      }
    }, 20)
    socket.on('data', (chunk) => (response += chunk))
    socket.on('error', () => {}) // the server may reset it: the close event follows
    socket.once('close', () => {
      clearTimeout(bound)
      clearInterval(drip)
      resolve({ response, sent })
    })
    socket.write(head)
  })
}

function assertRequestTimeout(t: Test, trickled: Trickled, bodyLength: number) {
  t.ok(trickled.sent < bodyLength, 'closed before the body ended')
  t.match(trickled.response, /^HTTP\/1\.1 408 /, 'answered 408')
  t.match(trickled.response, /content-type: application\/problem\+json/i)
  const body = JSON.parse(trickled.response.slice(trickled.response.indexOf('\r\n\r\n') + 4))
  t.match(body, { status: 408, code: 'TRM_REQUEST_TIMEOUT', instance: /^urn:trm-hub:request:/ })
}

t.test(
  'a body trickled in with a valid token is cut off at the deadline, while a long-poll outlives it',
  async (t) => {
    const { app, logs } = await buildTestApp(t, SETTINGS)
    const ro = await addAgency(app, { country: 'RO' })
    const de = await addAgency(app, { country: 'DE' })
    const port = await listening(app)
    const deToken = await de.client.accessToken()
    const roToken = await ro.client.accessToken()

    const longPoll = fetch(`http://127.0.0.1:${port}/v1/inbox?wait=30`, {
      headers: { authorization: `Bearer ${deToken}` },
    })
    await eventually(async () => app.inboxWakeups.waiting === 1 || undefined, 'the long-poll to wait')

    const bodyLength = 100_000
    const trickled = await trickle(
      port,
      'POST /v1/referrals HTTP/1.1\r\nHost: hub.test\r\n' +
        `Authorization: Bearer ${roToken}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${bodyLength}\r\n\r\n`,
      bodyLength,
    )
    assertRequestTimeout(t, trickled, bodyLength)
    t.equal(app.inboxWakeups.waiting, 1, 'the long-poll still waits after the trickled body was cut')

    const answer = await longPoll
    t.equal(answer.status, 200, 'the long-poll of 30 s is answered, not cut')
    t.same(((await answer.json()) as { items: unknown[] }).items, [])
    t.same(await app.db.selectFrom('referrals').select('id').execute(), [], 'nothing stored')
    t.notMatch(logs.text, /"level":50/, 'nothing logged as an error')
  },
)

t.test('fifty bodies trickled in to the token endpoint are all closed', async (t) => {
  const { app } = await buildTestApp(t, SETTINGS)
  const port = await listening(app)
  const bodyLength = 4_000
  const head =
    'POST /v1/oauth/token HTTP/1.1\r\nHost: hub.test\r\n' +
    `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${bodyLength}\r\n\r\n`
  const all = await Promise.all(Array.from({ length: 50 }, () => trickle(port, head, bodyLength)))
  for (const trickled of all) assertRequestTimeout(t, trickled, bodyLength)
  const live = await fetch(`http://127.0.0.1:${port}/health/live`)
  t.equal(live.status, 200, 'the server still answers')
})

t.test('headers sent a byte at a time are cut off too', async (t) => {
  const { app } = await buildTestApp(t, SETTINGS)
  const port = await listening(app)
  const trickled = await trickle(port, 'GET /health/live HTTP/1.1\r\nHost: hub.test\r\nX-Slow: ')
  t.match(trickled.response, /^HTTP\/1\.1 408 /, 'answered 408 and closed')
})
