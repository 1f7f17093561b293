import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import t from 'tap'
import {
  IDLE_CONNECTION_MS,
  MAX_RESPONSE_BYTES,
  type OutboundError,
  postJson,
} from '../../src/lib/outbound.js'

type Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void

async function serve(
  t: { teardown: (fn: () => unknown) => void },
  handler: Handler,
  onConnection?: (socket: Socket) => void,
) {
  const server = http.createServer(handler)
  if (onConnection) server.on('connection', onConnection)
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

// The test's timeout is where it gives up on a POST that never ends or a connection never closed.
t.test(
  'no answer within the timeout fails as a timeout, and the hub hangs up',
  { timeout: 30_000 },
  async (t) => {
    let hungUp!: () => void
    const closed = new Promise<void>((resolve) => {
      hungUp = resolve
    })
    // Accepts the connection and never answers nor closes it: only the deadline can end the POST (a
    // refused or reset connection is a `network` failure).
    const url = await serve(
      t,
      () => {},
      (socket) => socket.once('close', () => hungUp()),
    )
    t.match(await failure(post(url, { timeoutMs: 200 })), {
      kind: 'timeout',
      message: 'no answer within 200 ms',
    })
    await closed
    t.pass('the hub closed the connection')
  },
)

t.test('a resolver that hangs is bounded by the same timeout', { timeout: 30_000 }, async (t) => {
  const lookup = () => new Promise<never>(() => {})
  // AbortSignal.timeout does not keep a process alive (a real resolver or the worker's connections do).
  const keepAlive = setInterval(() => {}, 60_000)
  t.teardown(() => clearInterval(keepAlive))
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
  const refused = await failure(post('http://127.0.0.1:1/'))
  t.match(refused, { kind: 'network', message: /ECONNREFUSED/ })
  t.notMatch(refused?.message, /127\.0\.0\.1|:1\b/, 'the failure does not name the address it went to')
})

t.test('an abort from the caller (a worker shutting down) is reported as aborted', async (t) => {
  const controller = new AbortController()
  // Aborted once the request is in flight: the receiver has it and has not answered.
  const url = await serve(t, () => controller.abort('shutdown'))
  t.match(await failure(post(url, { timeoutMs: 60_000, signal: controller.signal })), { kind: 'aborted' })
})

/** A receiver on 127.0.0.1 that counts the connections and requests it saw, answering `answer`. */
async function counting(
  t: { teardown: (fn: () => unknown) => void },
  answer: (request: http.IncomingMessage, response: http.ServerResponse, nth: number) => void = (
    _request,
    response,
  ) => response.writeHead(204).end(),
) {
  const seen = { connections: 0, requests: 0 }
  const url = await serve(
    t,
    (request, response) => {
      seen.requests++
      request.resume()
      request.on('end', () => answer(request, response, seen.requests))
    },
    () => seen.connections++,
  )
  return { url, seen }
}

/** A resolver for `hooks.example` that answers from `addresses`, one per lookup, the last one repeated. */
const resolving = (...addresses: string[]) => {
  let n = 0
  return async () => [{ address: addresses[Math.min(n++, addresses.length - 1)]!, family: 4 }]
}

t.test('POSTs to one target share a connection kept open between them', async (t) => {
  const { url, seen } = await counting(t)
  for (let i = 0; i < 3; i++) t.equal(await post(url), 204)
  t.same(seen, { connections: 1, requests: 3 }, 'three POSTs, one connection')
})

t.test('a kept connection is not used once the name resolves elsewhere', async (t) => {
  const { url, seen } = await counting(t)
  const port = new URL(url).port
  const named = `http://hooks.example:${port}/hook`

  // Rebinding to a refused address: refused as before, though a connection to the old one is open.
  const rebound = resolving('127.0.0.1', '10.20.30.40')
  t.equal(await post(named, { lookup: rebound }), 204)
  t.match(await failure(post(named, { lookup: rebound })), { kind: 'refused' })

  // To another allowed address: a connection of its own (nothing listens there, so it is refused),
  // not the one kept to 127.0.0.1.
  const moved = resolving('127.0.0.1', '127.0.0.2')
  t.equal(await post(named, { lookup: moved }), 204)
  t.match(await failure(post(named, { lookup: moved })), { kind: 'network', message: /ECONNREFUSED/ })
  t.same(seen, { connections: 1, requests: 2 }, 'only the POSTs to 127.0.0.1 arrived, on one connection')
})

t.test('a kept connection the receiver dropped is replaced, and the POST is sent again', async (t) => {
  // The second request arrives on the kept connection, which the receiver then drops without an
  // answer, as a receiver that closed it while idle would; the POST is sent again on a new connection.
  const { url, seen } = await counting(t, (request, response, nth) => {
    if (nth === 2) request.socket.destroy()
    else response.writeHead(204).end()
  })
  t.equal(await post(url), 204)
  t.equal(await post(url), 204, 'the second POST succeeds')
  t.same(seen, { connections: 2, requests: 3 }, 'the dropped request, then the same on a new connection')
})

t.test('a new connection dropped before an answer is not tried again: it fails', async (t) => {
  const { url, seen } = await counting(t, (request) => request.socket.destroy())
  t.match(await failure(post(url)), { kind: 'network', message: /ECONNRESET/ })
  t.same(seen, { connections: 1, requests: 1 }, 'sent once')
})

t.test(
  'after a receiver restarts, the POST goes again on a new connection, not on another kept one',
  async (t) => {
    // Two POSTs at once leave two kept connections; then the receiver "restarts": it drops whatever
    // arrives on a connection opened before, as a new process behind the same address would.
    const before = new Set<Socket>()
    let restarted = false
    const { url, seen } = await counting(t, (request, response) => {
      if (restarted && before.has(request.socket)) request.socket.destroy()
      else {
        if (!restarted) before.add(request.socket)
        response.writeHead(204).end()
      }
    })
    t.same(await Promise.all([post(url), post(url)]), [204, 204])
    t.equal(seen.connections, 2, 'two connections kept')
    restarted = true
    t.equal(await post(url), 204, 'delivered')
    t.same(seen, { connections: 3, requests: 4 }, 'dropped once on a kept connection, then sent on a new one')
  },
)

t.test('a kept connection answered with garbage is not tried again: it fails', async (t) => {
  const { url, seen } = await counting(t, (request, response, nth) => {
    if (nth === 2) request.socket.end('this is not HTTP\r\n\r\n')
    else response.writeHead(204).end()
  })
  t.equal(await post(url), 204)
  t.match(await failure(post(url)), { kind: 'network' })
  t.same(seen, { connections: 1, requests: 2 }, 'sent once on the kept connection, not again')
})

// The test's timeout is where it gives up on a connection the hub never closes.
t.test(
  `an idle kept connection is closed by the hub after ${IDLE_CONNECTION_MS} ms`,
  { timeout: 60_000 },
  async (t) => {
    let hungUp!: () => void
    const closedByHub = new Promise<void>((resolve) => {
      hungUp = resolve
    })
    const server = http.createServer((request, response) => {
      request.resume()
      request.on('end', () => response.writeHead(204).end())
    })
    server.keepAliveTimeout = 0 // the receiver never closes it, nor hints a timeout
    server.on('connection', (socket: Socket) => socket.once('end', () => hungUp()))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    t.teardown(() => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(resolve))
    })
    t.equal(await post(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`), 204)
    await closedByHub
    t.pass('the hub ended the idle connection')
  },
)
