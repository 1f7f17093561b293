import t from 'tap'
import { classifyAddress, refusalFor, resolveChecked } from '../../src/lib/outbound.js'

// [address, may a webhook reach it] with loopback not allowed (production). The IANA IPv4 and IPv6
// special-purpose address registries, row by row, then the IPv6 forms that carry an IPv4 address.
const table: [string, boolean][] = [
  // Public IPv4
  ['8.8.8.8', true],
  ['93.184.216.34', true],
  ['9.255.255.255', true],
  ['11.0.0.1', true],
  ['172.15.255.255', true],
  ['172.32.0.1', true],
  ['192.169.0.1', true],
  ['100.128.0.1', true],
  ['198.20.0.1', true],
  // IPv4 special-purpose registry
  ['0.0.0.0', false], // 0.0.0.0/8 this network
  ['0.1.2.3', false],
  ['10.0.0.1', false], // 10.0.0.0/8 private-use
  ['10.255.255.255', false],
  ['100.64.0.1', false], // 100.64.0.0/10 shared address space
  ['100.127.255.255', false],
  ['127.0.0.1', false], // 127.0.0.0/8 loopback
  ['127.255.0.9', false],
  ['169.254.169.254', false], // 169.254.0.0/16 link local (cloud metadata)
  ['172.16.0.1', false], // 172.16.0.0/12 private-use
  ['172.31.255.255', false],
  ['192.0.0.1', false], // 192.0.0.0/24 IETF protocol assignments
  ['192.0.0.9', false], // PCP anycast
  ['192.0.0.170', false], // NAT64/DNS64 discovery
  ['192.0.2.1', false], // 192.0.2.0/24 documentation
  ['192.31.196.1', false], // AS112-v4
  ['192.52.193.1', false], // AMT
  ['192.88.99.1', false], // deprecated 6to4 relay anycast
  ['192.168.1.1', false], // 192.168.0.0/16 private-use
  ['192.175.48.1', false], // direct delegation AS112
  ['198.18.0.1', false], // 198.18.0.0/15 benchmarking
  ['198.19.255.255', false],
  ['198.51.100.7', false], // documentation
  ['203.0.113.9', false], // documentation
  ['224.0.0.1', false], // multicast
  ['239.255.255.250', false],
  ['240.0.0.1', false], // 240.0.0.0/4 reserved
  ['255.255.255.255', false], // limited broadcast
  // Public IPv6 (2000::/3 outside the special ranges)
  ['2606:4700:4700::1111', true],
  ['2001:4860:4860::8888', true],
  ['2a00:1450:4001:82a::200e', true],
  ['2001:200::1', true],
  ['2620:4f:8001::1', true],
  // IPv6 special-purpose registry
  ['::', false], // ::/128 unspecified
  ['::1', false], // ::1/128 loopback
  ['[::1]', false],
  ['0:0:0:0:0:0:0:1', false],
  ['100::1', false], // 100::/64 discard-only
  ['100:0:0:1::1', false], // 100:0:0:1::/64 dummy prefix (not named by ipaddr.js)
  ['2001::1', false], // 2001::/32 Teredo
  ['2001:1::1', false], // 2001::/23 IETF protocol assignments (PCP anycast)
  ['2001:1::3', false],
  ['2001:2::1', false], // benchmarking
  ['2001:3::1', false], // AMT
  ['2001:4:112::1', false], // AS112-v6
  ['2001:10::1', false], // deprecated ORCHID
  ['2001:20::1', false], // ORCHIDv2
  ['2001:30::1', false], // drone remote ID
  ['2001:db8::1', false], // documentation
  ['2002::1', false], // 2002::/16 6to4
  ['2620:4f:8000::1', false], // direct delegation AS112
  ['3fff::1', false], // 3fff::/20 documentation
  ['5f00::1', false], // SRv6 SIDs
  ['fc00::1', false], // fc00::/7 unique local
  ['fd12:3456:789a::1', false],
  ['fe80::1', false], // fe80::/10 link-local unicast
  ['fe80::1%eth0', false],
  ['febf::1', false],
  ['fec0::1', false], // deprecated site-local
  ['ff02::1', false], // multicast
  ['ff0e::1', false],
  // Outside 2000::/3, the only global unicast space allocated (IANA IPv6 address space).
  ['4000::1', false],
  ['e000::1', false],
  ['1::1', false],
  // IPv4-mapped ::ffff:0:0/96: judged as the IPv4 address it is
  ['::ffff:8.8.8.8', true],
  ['::ffff:808:808', true],
  ['::ffff:127.0.0.1', false],
  ['::ffff:7f00:1', false],
  ['::ffff:10.1.2.3', false],
  ['::ffff:169.254.169.254', false],
  ['::ffff:192.0.2.1', false],
  // IPv4-compatible ::/96 (deprecated, RFC 4291 §2.5.5.1): refused whatever it carries
  ['::127.0.0.1', false],
  ['::7f00:1', false],
  ['::10.1.2.3', false],
  ['::8.8.8.8', false],
  ['::2', false],
  // IPv4-translated ::ffff:0:0:0/96 (RFC 6145): refused
  ['::ffff:0:8.8.8.8', false],
  ['::ffff:0:7f00:1', false],
  // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052): the IPv4 address it carries decides
  ['64:ff9b::8.8.8.8', true],
  ['64:ff9b::808:808', true],
  ['64:ff9b::127.0.0.1', false],
  ['64:ff9b::a9fe:a9fe', false],
  ['64:ff9b::10.0.0.1', false],
  ['64:ff9b::c000:201', false],
  // Local-use NAT64 64:ff9b:1::/48 (RFC 8215): refused, whatever it carries
  ['64:ff9b:1::1', false],
  ['64:ff9b:1:808:8:800::', false],
  ['64:ff9b:1:a00:1:0::', false],
  // 6to4 2002::/16 (the IPv4 address in bits 16-47): refused, a public one too
  ['2002:c0a8:0101::1', false],
  ['2002:7f00:1::1', false],
  ['2002:0808:0808::1', false],
  // Teredo 2001::/32 (server IPv4 in bits 32-63, client IPv4 inverted in bits 96-127): refused
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', false],
  ['2001:0:808:808::f7f7:f7f7', false],
  ['2001:0:a00:1::80ff:fefe', false],
  ['not-an-address', false],
  ['', false],
]

t.test('which addresses a webhook may reach: the special-purpose registries, table by table', async (t) => {
  for (const [address, allowed] of table) {
    t.equal(
      refusalFor(address, false) === undefined,
      allowed,
      `${address} ${allowed ? 'allowed' : 'refused'}`,
    )
  }
})

t.test('allowLoopback (development) lets through loopback and nothing else', async (t) => {
  for (const address of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1']) {
    t.equal(refusalFor(address, true), undefined, `${address} allowed with allowLoopback`)
  }
  const stillRefused = [
    '10.0.0.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    'fe80::1',
    'fd00::1',
    '224.0.0.1',
    '::127.0.0.1',
    '64:ff9b::127.0.0.1',
    '2002:7f00:1::1',
    '::ffff:0:7f00:1',
  ]
  for (const address of stillRefused) t.ok(refusalFor(address, true), `${address} refused with allowLoopback`)
})

t.test('an embedded IPv4 address is classified as itself; the other ranges by their own name', async (t) => {
  t.equal(classifyAddress('::ffff:10.1.2.3'), 'private')
  t.equal(classifyAddress('::ffff:7f00:1'), 'loopback')
  t.equal(classifyAddress('64:ff9b::a9fe:a9fe'), 'linkLocal')
  t.equal(classifyAddress('64:ff9b::8.8.8.8'), 'public')
  t.equal(classifyAddress('::127.0.0.1'), 'ipv4Compatible')
  t.equal(classifyAddress('::8.8.8.8'), 'ipv4Compatible', 'not IPv4-mapped, whatever ipaddr.js 2.5 reads')
  t.equal(classifyAddress('2002:0808:0808::1'), '6to4')
  t.equal(classifyAddress('2001:0:808:808::f7f7:f7f7'), 'teredo')
  t.equal(classifyAddress('64:ff9b:1::1'), 'localNat64')
  t.equal(classifyAddress('100:0:0:1::1'), 'dummyPrefix')
  t.equal(classifyAddress('4000::1'), 'unallocated')
  t.equal(classifyAddress('2606:4700:4700::1111'), 'public')
})

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as Error & { kind: string },
  )

t.test('a host is refused when any address it resolves to is refused', async (t) => {
  const lookup = (answers: string[]) => async () =>
    answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))
  t.same(await resolveChecked('hooks.example', false, lookup(['93.184.216.34'])), {
    address: '93.184.216.34',
    family: 4,
  })
  t.match(await failure(resolveChecked('hooks.example', false, lookup(['93.184.216.34', '10.0.0.5']))), {
    kind: 'refused',
  })
  t.match(await failure(resolveChecked('hooks.example', false, lookup(['2606:4700::1', '::127.0.0.1']))), {
    kind: 'refused',
  })
  t.ok(await failure(resolveChecked('hooks.example', false, lookup([]))), 'no address is a failure')
  t.same(
    await resolveChecked('[::1]', true, lookup(['8.8.8.8'])),
    { address: '::1', family: 6 },
    'IP literals are not looked up',
  )
  t.match(await failure(resolveChecked('169.254.169.254', true)), { kind: 'refused' })
})

t.test(
  'a refusal says only that the target is not allowed: no address, no class, no DNS answer',
  async (t) => {
    const lookup = (answers: string[]) => async () =>
      answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))
    const unresolvable = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND intranet.corp'), { code: 'ENOTFOUND' })
    }
    const messages = [
      (await failure(resolveChecked('intranet.corp', false, lookup(['93.184.216.34', '10.1.2.3']))))?.message,
      (await failure(resolveChecked('intranet.corp', false, lookup(['::ffff:10.1.2.3']))))?.message,
      (await failure(resolveChecked('intranet.corp', false, lookup(['127.0.0.1']))))?.message,
      (await failure(resolveChecked('intranet.corp', false, lookup([]))))?.message,
      (await failure(resolveChecked('intranet.corp', false, unresolvable)))?.message,
      (await failure(resolveChecked('10.1.2.3', false)))?.message,
    ]
    for (const message of messages) {
      t.notMatch(message, /\d+\.\d+\.\d+\.\d+|::|private|loopback|link-local|resolves to/, String(message))
    }
    t.equal(new Set(messages).size, 1, 'a refused address and a name that does not resolve read the same')
    t.match(messages[0], /not allowed/)
  },
)
