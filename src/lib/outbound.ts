import { lookup as dnsLookup } from 'node:dns/promises'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import ipaddr from 'ipaddr.js'

/**
 * Outbound HTTP to addresses agencies chose (webhooks), guarded against server-side request forgery:
 * every address the host resolves to is checked, the connection goes to the checked address (no
 * second lookup an attacker's DNS could answer differently) and is kept for the next POST only to
 * that same address, redirects are not followed, the response is read to at most 64 KiB and
 * discarded, and the whole exchange has a deadline.
 */

// IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and later entries), by ipaddr.js.
// What ipaddr.js 2.5 names is refused as it names it. What it leaves as plain `unicast` but a webhook
// must not reach either is below, and an IPv6 address outside 2000::/3 (the only global unicast
// space IANA has allocated; the rest is "Reserved by IETF") is `unallocated`.
const IPV4_COMPATIBLE = ipaddr.IPv6.parseCIDR('::/96') // RFC 4291 §2.5.5.1, deprecated
const DUMMY_PREFIX = ipaddr.IPv6.parseCIDR('100:0:0:1::/64') // RFC 9780
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR('64:ff9b::/96') // RFC 6052: ipaddr.js says rfc6052
const NAT64_LOCAL_USE = ipaddr.IPv6.parseCIDR('64:ff9b:1::/48') // RFC 8215: ipaddr.js says rfc6052 too
const GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR('2000::/3')

const v4Range = (ip: ipaddr.IPv4): string => (ip.range() === 'unicast' ? 'public' : ip.range())

/**
 * An IPv6 literal with its trailing dotted IPv4 part written as two hex groups, and no zone index.
 * ipaddr.js 2.5 reads `::a.b.c.d` as IPv4-mapped (`::ffff:a.b.c.d`), but it is the IPv4-compatible
 * address (RFC 4291 §2.5.5.1), and the resolver writes those that way too.
 */
function hexOnly(ipv6: string): string {
  return ipv6.replace(/%.*$/, '').replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) => {
    const group = (high: string, low: string) => ((Number(high) << 8) | Number(low)).toString(16)
    return `${group(a, b)}:${group(c, d)}`
  })
}

/**
 * An IPv4 address carried in an IPv6 one is judged as itself where the packet goes to it: IPv4-mapped
 * (the socket speaks IPv4) and the NAT64 well-known prefix (a translator forwards it; `translated`).
 * The other forms are refused whatever they carry: IPv4-compatible (deprecated), IPv4-translated
 * (RFC 6145), local-use NAT64 (the operator's own translator, not globally reachable), 6to4 and
 * Teredo (tunnels to relays anyone may run, with the IPv4 address inside chosen by the sender).
 */
function classify(address: string): { range: string; translated: boolean } {
  const bare = address.replace(/^\[|\]$/g, '')
  if (net.isIPv4(bare)) return { range: v4Range(ipaddr.IPv4.parse(bare)), translated: false }
  if (!net.isIPv6(bare)) return { range: 'notAnAddress', translated: false }
  const ip = ipaddr.IPv6.parse(hexOnly(bare))
  const range = ip.range()
  if (range === 'ipv4Mapped') return { range: v4Range(ip.toIPv4Address()), translated: false }
  if (ip.match(NAT64_WELL_KNOWN)) {
    return { range: v4Range(new ipaddr.IPv4(ip.toByteArray().slice(12))), translated: true }
  }
  if (ip.match(NAT64_LOCAL_USE)) return { range: 'localNat64', translated: false }
  if (range !== 'unicast') return { range, translated: false }
  if (ip.match(IPV4_COMPATIBLE)) return { range: 'ipv4Compatible', translated: false }
  if (ip.match(DUMMY_PREFIX)) return { range: 'dummyPrefix', translated: false }
  return { range: ip.match(GLOBAL_UNICAST) ? 'public' : 'unallocated', translated: false }
}

/**
 * The range an IP literal is in: `public`, or the special-purpose range it belongs to (ipaddr.js's
 * names: `private`, `loopback`, `linkLocal`, `6to4`, `teredo`…, and `ipv4Compatible`, `dummyPrefix`,
 * `localNat64`, `unallocated`, `notAnAddress`). An IPv4-mapped or NAT64 address is the range of the
 * IPv4 address it carries.
 */
export function classifyAddress(address: string): string {
  return classify(address).range
}

/**
 * The range that forbids reaching an address, or undefined when it may be reached: public addresses,
 * and loopback (not through NAT64) when explicitly allowed (development).
 */
export function refusalFor(address: string, allowLoopback: boolean): string | undefined {
  const { range, translated } = classify(address)
  if (range === 'public' || (range === 'loopback' && allowLoopback && !translated)) return undefined
  return range
}

/**
 * All that a refused or unresolvable target is told (agencies read it in their deliveries): never the
 * address, its range, or what a name resolved to, which would map the hub's network for them. A name
 * that does not resolve reads the same, so the answer does not tell an internal name from none.
 */
export const TARGET_REFUSED = 'refused: the target is not allowed, or its name does not resolve'

export class OutboundError extends Error {
  constructor(
    message: string,
    readonly kind: 'refused' | 'network' | 'timeout' | 'status' | 'aborted',
    /** For the operator's log, never for the agency: the refusing range or the resolver's error code. */
    readonly detail?: string,
  ) {
    super(message)
    this.name = 'OutboundError'
  }
}

export type Lookup = (hostname: string) => Promise<{ address: string; family: number }[]>
const systemLookup: Lookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true })

/** Resolves the host and checks every address; refuses the host when any of them is refused. */
export async function resolveChecked(
  hostname: string,
  allowLoopback: boolean,
  lookup: Lookup = systemLookup,
): Promise<{ address: string; family: 4 | 6 }> {
  const bare = hostname.replace(/^\[|\]$/g, '')
  const family = net.isIP(bare)
  const addresses = family
    ? [{ address: bare, family }]
    : await lookup(bare).catch((error: NodeJS.ErrnoException) => {
        throw new OutboundError(TARGET_REFUSED, 'network', error.code ?? 'lookup failed')
      })
  if (addresses.length === 0) throw new OutboundError(TARGET_REFUSED, 'network', 'no address')
  for (const { address } of addresses) {
    const range = refusalFor(address, allowLoopback)
    if (range) throw new OutboundError(TARGET_REFUSED, 'refused', range)
  }
  const first = addresses[0]!
  return { address: first.address, family: first.family === 6 ? 6 : 4 }
}

export interface PostOptions {
  headers: Record<string, string>
  timeoutMs: number
  allowLoopback: boolean
  signal?: AbortSignal
  lookup?: Lookup
}

export const MAX_RESPONSE_BYTES = 64 * 1024

/** How long a connection kept for the next webhook to its target may stay idle (less if it says so). */
export const IDLE_CONNECTION_MS = 4_000
/** Targets whose pools are remembered; an older one is forgotten and its idle connections closed. */
const POOLS_MAX = 256
/** Idle connections kept per pool: as many as the worker's webhooks at once (its concurrency). */
const IDLE_CONNECTIONS_MAX = 32
const pools = new Map<string, http.Agent>()

/**
 * The pool of kept-open connections for a target and the address its check gave: a connection is
 * reused only by a request whose own check, made just before, gave the same address, so a name that
 * now resolves elsewhere never rides an earlier connection (and is refused if the new address is).
 * Idle connections close after `IDLE_CONNECTION_MS`, sooner when the receiver's `Keep-Alive` header
 * asks, and never keep the process alive.
 */
function poolFor(target: URL, checked: { address: string }): http.Agent {
  const key = `${target.protocol}//${target.host} ${checked.address}`
  const known = pools.get(key)
  if (known) {
    pools.delete(key) // most recently used last
    pools.set(key, known)
    return known
  }
  const Agent = target.protocol === 'https:' ? https.Agent : http.Agent
  const agent = new Agent({
    keepAlive: true,
    timeout: IDLE_CONNECTION_MS,
    maxFreeSockets: IDLE_CONNECTIONS_MAX,
    scheduling: 'lifo',
  })
  pools.set(key, agent)
  if (pools.size > POOLS_MAX) {
    const oldest = pools.keys().next().value!
    // Its POSTs under way finish on their connections, which then close when idle.
    for (const idle of Object.values(pools.get(oldest)!.freeSockets))
      for (const socket of idle ?? []) socket.destroy()
    pools.delete(oldest)
  }
  return agent
}

/** A kept connection the receiver closed while it sat idle fails this way on its next request. */
const STALE = new Set(['ECONNRESET', 'EPIPE'])

/**
 * POSTs a body and resolves to the HTTP status when it is 2xx; anything else is an OutboundError.
 * The connection may be one kept from an earlier POST to the same target (see `poolFor`); when such
 * a connection turns out closed before any answer, the POST is sent once more on a new connection
 * (the receiver may see it twice, as it may any webhook: `TRM-Message-Id` tells it apart).
 */
export async function postJson(url: string, body: Uint8Array, options: PostOptions): Promise<number> {
  const target = new URL(url)
  if (target.protocol !== 'https:' && target.protocol !== 'http:') {
    throw new OutboundError(`refused: ${target.protocol} is not http(s)`, 'refused')
  }
  if (target.username || target.password)
    throw new OutboundError('refused: URL carries credentials', 'refused')
  const deadline = AbortSignal.timeout(options.timeoutMs)
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline
  const stopped = () =>
    deadline.aborted
      ? new OutboundError(`no answer within ${options.timeoutMs} ms`, 'timeout')
      : new OutboundError('aborted', 'aborted')
  // The deadline covers name resolution too: a resolver that hangs must not hold the job.
  const checked = await untilAborted(
    resolveChecked(target.hostname, options.allowLoopback, options.lookup),
    signal,
    stopped,
  )
  const client = target.protocol === 'https:' ? https : http
  const exchange = (agent: http.Agent | false) =>
    new Promise<number>((resolve, reject) => {
      let status = 0
      const settle = () => {
        if (status >= 200 && status < 300) resolve(status)
        else if (status >= 300 && status < 400) {
          reject(new OutboundError(`HTTP ${status}: redirects are not followed`, 'status'))
        } else reject(new OutboundError(`HTTP ${status}`, 'status'))
      }
      const fail = (error: NodeJS.ErrnoException) => {
        // A status that arrived before the failure stands: the receiver answered in time.
        if (status !== 0) settle()
        else if (signal.aborted) reject(stopped())
        else if (request.reusedSocket && STALE.has(error.code ?? '')) reject(new StaleConnection())
        else reject(error instanceof OutboundError ? error : new OutboundError(describe(error), 'network'))
      }
      const request = client.request(
        target,
        {
          method: 'POST',
          agent,
          signal,
          headers: { ...options.headers, 'content-length': String(body.byteLength) },
          // The connection goes to the address checked above, never to a second DNS answer.
          lookup: (_hostname, lookupOptions, callback) => {
            if ((lookupOptions as { all?: boolean }).all) {
              ;(callback as (e: null, a: { address: string; family: number }[]) => void)(null, [checked])
            } else callback(null, checked.address, checked.family)
          },
        },
        (response) => {
          status = response.statusCode ?? 0
          let received = 0
          response.on('data', (chunk: Buffer) => {
            received += chunk.length
            if (received > MAX_RESPONSE_BYTES) response.destroy() // enough: the status is all that counts
          })
          response.on('error', () => {})
          response.on('close', settle)
        },
      )
      request.on('error', fail)
      request.end(body)
    })
  return exchange(poolFor(target, checked)).catch((error: unknown) => {
    if (!(error instanceof StaleConnection)) throw error
    return exchange(false)
  })
}

class StaleConnection extends Error {}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, reason: () => Error): Promise<T> {
  if (signal.aborted) return Promise.reject(reason())
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(reason())
    signal.addEventListener('abort', abort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort))
  })
}

/** The error's code only: Node's messages name the address connected to ("connect ECONNREFUSED 10.…"). */
function describe(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code
  return code ? `network error ${code}` : 'network error'
}
