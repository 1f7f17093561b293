import t from 'tap'
import { type AddressClass, classifyAddress, refusalFor, resolveChecked } from '../../src/lib/outbound.js'

const cases: [string, AddressClass][] = [
  ['8.8.8.8', 'public'],
  ['93.184.216.34', 'public'],
  ['9.255.255.255', 'public'],
  ['10.0.0.1', 'private'],
  ['10.255.255.255', 'private'],
  ['11.0.0.1', 'public'],
  ['172.15.255.255', 'public'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['172.32.0.1', 'public'],
  ['192.168.1.1', 'private'],
  ['192.169.0.1', 'public'],
  ['127.0.0.1', 'loopback'],
  ['127.255.0.9', 'loopback'],
  ['169.254.169.254', 'link-local'],
  ['0.0.0.0', 'unspecified'],
  ['0.1.2.3', 'unspecified'],
  ['100.64.0.1', 'cgnat'],
  ['100.127.255.255', 'cgnat'],
  ['100.128.0.1', 'public'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['255.255.255.255', 'reserved'],
  ['2606:4700:4700::1111', 'public'],
  ['::1', 'loopback'],
  ['[::1]', 'loopback'],
  ['0:0:0:0:0:0:0:1', 'loopback'],
  ['::', 'unspecified'],
  ['fc00::1', 'private'],
  ['fd12:3456:789a::1', 'private'],
  ['fe80::1', 'link-local'],
  ['fe80::1%eth0', 'link-local'],
  ['febf::1', 'link-local'],
  ['fec0::1', 'private'],
  ['ff02::1', 'multicast'],
  // IPv6 spellings of IPv4 addresses are judged by the IPv4 address they carry.
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', 'loopback'],
  ['::ffff:10.1.2.3', 'private'],
  ['::ffff:8.8.8.8', 'public'],
  ['64:ff9b::a9fe:a9fe', 'link-local'],
  ['2002:c0a8:0101::1', 'private'],
  ['2002:0808:0808::1', 'public'],
  ['not-an-address', 'reserved'],
]

t.test('address classifier', async (t) => {
  for (const [address, expected] of cases) t.equal(classifyAddress(address), expected, address)
})

t.test('refusals: loopback only with allowLoopback, never the others', async (t) => {
  t.equal(refusalFor('8.8.8.8', false), undefined)
  t.match(refusalFor('127.0.0.1', false), /loopback/)
  t.equal(refusalFor('127.0.0.1', true), undefined)
  t.equal(refusalFor('::1', true), undefined)
  for (const address of [
    '10.0.0.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    'fe80::1',
    'fd00::1',
    '224.0.0.1',
  ]) {
    t.ok(refusalFor(address, true), `${address} refused even with allowLoopback`)
  }
})

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
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
    message: /10\.0\.0\.5 is a private address/,
  })
  t.match(await failure(resolveChecked('hooks.example', false, lookup([]))), { kind: 'network' })
  t.same(
    await resolveChecked('[::1]', true, lookup(['8.8.8.8'])),
    { address: '::1', family: 6 },
    'IP literals are not looked up',
  )
  t.match(await failure(resolveChecked('169.254.169.254', true)), { kind: 'refused' })
})
