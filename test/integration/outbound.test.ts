import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { MAX_RESPONSE_BYTES, type OutboundError, postJson } from '../../src/lib/outbound.js'

type Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void

async function serve(t: { teardown: (fn: () => unknown) => void }, handler: Handler) {
  const server = http.createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise((resolve) => server.close(resolve))
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
}

const body = Buffer.from('{"id":"x"}')
const post = (url: string, extra: Partial<Parameters<typeof postJson>[2]> = {}) =>
  postJson(url, body, {
    headers: { 'content-type': 'application/json' },
    timeoutMs: 500,
    allowLoopback: true,
    ...extra,
  })
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as OutboundError,
  )

t.test('a 2xx resolves to its status; the body sent is the one given', async (t) => {
  let seen = ''
  const url = await serve(t, (request, response) => {
    request.on('data', (chunk) => (seen += chunk))
    request.on('end', () => response.writeHead(202).end())
  })
  t.equal(await post(url), 202)
  t.equal(seen, body.toString())
})

t.test('no answer within the timeout fails as a timeout', async (t) => {
  const url = await serve(t, () => {})
  const started = Date.now()
  t.match(await failure(post(url, { timeoutMs: 200 })), {
    kind: 'timeout',
    message: 'no answer within 200 ms',
  })
  t.ok(Date.now() - started < 1_500, 'promptly')
})

t.test('a resolver that hangs is bounded by the same timeout', async (t) => {
  const lookup = () => new Promise<never>(() => {})
  // AbortSignal.timeout does not keep a process alive (a real resolver or the worker's connections do).
  const keepAlive = setTimeout(() => {}, 5_000)
  t.teardown(() => clearTimeout(keepAlive))
  t.match(await failure(post('https://hooks.example/x', { timeoutMs: 150, lookup })), { kind: 'timeout' })
})

t.test('a huge response is cut at 64 KiB, and the status still counts', async (t) => {
  let written = 0
  const url = await serve(t, (_request, response) => {
    response.writeHead(200)
    const chunk = Buffer.alloc(16 * 1024, 'a')
    const pump = () => {
      while (written < 50 * 1024 * 1024) {
        written += chunk.length
        if (!response.write(chunk)) return void response.once('drain', pump)
      }
      response.end()
    }
    pump()
  })
  t.equal(await post(url, { timeoutMs: 2_000 }), 200)
  t.ok(written < 10 * 1024 * 1024, `the hub stopped reading early (${written} bytes written by the receiver)`)
  t.equal(MAX_RESPONSE_BYTES, 65_536)
})

t.test('non-2xx statuses, redirects and refused schemes fail with what happened', async (t) => {
  const url = await serve(t, (request, response) => {
    if (request.url === '/hook') response.writeHead(301, { location: 'http://127.0.0.1:1/' }).end()
    else response.writeHead(404).end()
  })
  t.match(await failure(post(url)), { kind: 'status', message: 'HTTP 301: redirects are not followed' })
  t.match(await failure(post(url.replace('/hook', '/other'))), { kind: 'status', message: 'HTTP 404' })
  t.match(await failure(post('ftp://127.0.0.1/')), { kind: 'refused' })
  t.match(await failure(post('https://user:pw@127.0.0.1/')), { kind: 'refused', message: /credentials/ })
  t.match(await failure(post('http://127.0.0.1:1/')), { kind: 'network', message: /ECONNREFUSED/ })
})

t.test('an abort from the caller (a worker shutting down) is reported as aborted', async (t) => {
  const url = await serve(t, () => {})
  const controller = new AbortController()
  setTimeout(() => controller.abort('shutdown'), 50)
  t.match(await failure(post(url, { timeoutMs: 5_000, signal: controller.signal })), { kind: 'aborted' })
})
