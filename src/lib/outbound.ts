import { lookup as dnsLookup } from 'node:dns/promises'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'

/**
 * Outbound HTTP to addresses agencies chose (webhooks), guarded against server-side request forgery:
 * every address the host resolves to is checked, the connection goes to the checked address (no
 * second lookup an attacker's DNS could answer differently), redirects are not followed, the
 * response is read to at most 64 KiB and discarded, and the whole exchange has a deadline.
 */

export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unspecified'
  | 'cgnat'
  | 'multicast'
  | 'reserved'

type Range = readonly [prefix: bigint, bits: number, cls: AddressClass]

const v4 = (text: string): bigint => text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(part), 0n)

function v6(text: string): bigint {
  let address = text.toLowerCase().replace(/%.*$/, '')
  const dotted = address.match(/(\d+\.\d+\.\d+\.\d+)$/)
  if (dotted) {
    const n = v4(dotted[1]!)
    address = `${address.slice(0, -dotted[1]!.length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`
  }
  const [head = '', tail] = address.split('::')
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const groups =
    tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(`0x${group || '0'}`), 0n)
}

// RFC 6890 special-purpose registries, the parts a webhook must never reach.
const V4_RANGES: Range[] = [
  [v4('0.0.0.0'), 8, 'unspecified'],
  [v4('10.0.0.0'), 8, 'private'],
  [v4('100.64.0.0'), 10, 'cgnat'],
  [v4('127.0.0.0'), 8, 'loopback'],
  [v4('169.254.0.0'), 16, 'link-local'],
  [v4('172.16.0.0'), 12, 'private'],
  [v4('192.0.0.0'), 24, 'reserved'],
  [v4('192.168.0.0'), 16, 'private'],
  [v4('198.18.0.0'), 15, 'reserved'],
  [v4('224.0.0.0'), 4, 'multicast'],
  [v4('240.0.0.0'), 4, 'reserved'],
]
const V6_RANGES: Range[] = [
  [v6('::'), 128, 'unspecified'],
  [v6('::1'), 128, 'loopback'],
  [v6('fc00::'), 7, 'private'],
  [v6('fe80::'), 10, 'link-local'],
  [v6('fec0::'), 10, 'private'],
  [v6('ff00::'), 8, 'multicast'],
]
// IPv6 forms that carry an IPv4 address a packet may end up at: mapped, NAT64, 6to4 (its bits 16..48).
const MAPPED = v6('::ffff:0:0')
const NAT64 = v6('64:ff9b::')

const inRange = (value: bigint, width: number, [prefix, bits]: Range) =>
  value >> BigInt(width - bits) === prefix >> BigInt(width - bits)

function classifyV4(value: bigint): AddressClass {
  return V4_RANGES.find((range) => inRange(value, 32, range))?.[2] ?? 'public'
}

/** What kind of address an IP literal is; anything that is not an IP address is `reserved`. */
export function classifyAddress(address: string): AddressClass {
  const bare = address.replace(/^\[|\]$/g, '')
  if (net.isIPv4(bare)) return classifyV4(v4(bare))
  if (!net.isIPv6(bare)) return 'reserved'
  const value = v6(bare)
  if (value >> 32n === MAPPED >> 32n || value >> 32n === NAT64 >> 32n) return classifyV4(value & 0xffffffffn)
  if (value >> 112n === 0x2002n) return classifyV4((value >> 80n) & 0xffffffffn)
  return V6_RANGES.find((range) => inRange(value, 128, range))?.[2] ?? 'public'
}

/** Why an address may not be reached, or undefined. Loopback only when explicitly allowed (development). */
export function refusalFor(address: string, allowLoopback: boolean): string | undefined {
  const cls = classifyAddress(address)
  if (cls === 'public' || (cls === 'loopback' && allowLoopback)) return undefined
  return `${address} is a ${cls} address`
}

export class OutboundError extends Error {
  constructor(
    message: string,
    readonly kind: 'refused' | 'network' | 'timeout' | 'status' | 'aborted',
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
        throw new OutboundError(`cannot resolve ${bare}: ${error.code ?? error.message}`, 'network')
      })
  if (addresses.length === 0) throw new OutboundError(`${bare} has no address`, 'network')
  for (const { address } of addresses) {
    const refusal = refusalFor(address, allowLoopback)
    if (refusal) {
      throw new OutboundError(`refused: ${family ? refusal : `${bare} resolves to ${refusal}`}`, 'refused')
    }
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

/** POSTs a body and resolves to the HTTP status when it is 2xx; anything else is an OutboundError. */
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
  return new Promise<number>((resolve, reject) => {
    let status = 0
    const settle = () => {
      if (status >= 200 && status < 300) resolve(status)
      else if (status >= 300 && status < 400) {
        reject(new OutboundError(`HTTP ${status}: redirects are not followed`, 'status'))
      } else reject(new OutboundError(`HTTP ${status}`, 'status'))
    }
    const fail = (error: Error) => {
      // A status that arrived before the failure stands: the receiver answered in time.
      if (status !== 0) settle()
      else if (signal.aborted) reject(stopped())
      else reject(error instanceof OutboundError ? error : new OutboundError(describe(error), 'network'))
    }
    const request = client.request(
      target,
      {
        method: 'POST',
        agent: false,
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
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, reason: () => Error): Promise<T> {
  if (signal.aborted) return Promise.reject(reason())
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(reason())
    signal.addEventListener('abort', abort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort))
  })
}

function describe(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code
  return code ? `${code}: ${error.message}` : error.message
}
