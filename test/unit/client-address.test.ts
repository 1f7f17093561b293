import t from 'tap'
import { clientAddress } from '../../src/plugins/security.js'

// The address the rate-limit budgets count under (documentation ranges, RFC 5737 and RFC 3849).
t.test('IPv4 as it is, IPv6 by its /64, an IPv4-mapped address as IPv4, none as unknown', async (t) => {
  const of = (ip: string | undefined) => clientAddress({ ip, socket: undefined } as never)
  t.equal(of('192.0.2.10'), '192.0.2.10')
  t.equal(of('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64')
  t.equal(of('2001:DB8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64', 'one customer’s prefix, one budget')
  t.not(of('2001:db8:1:3::1'), of('2001:db8:1:2::1'), 'another /64, another budget')
  t.equal(of('::ffff:192.0.2.10'), '192.0.2.10', 'the same client over a dual-stack socket')
  t.equal(of(undefined), 'unknown', 'a client that already hung up')
})
