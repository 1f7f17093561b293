// What the strict (I-JSON) parse of a signed payload costs next to JSON.parse, per payload, on the
// payloads the hub reads on its hot path: a referral document of about 1.6 kB and a client
// assertion's claims. Both sides start from the payload's bytes and decode them as UTF-8.
//
//   npx tsx bench/strict-json.ts [ITERATIONS=20000]   (per round; the fastest of 7 rounds is shown)
import { randomUUID } from 'node:crypto'
import { availableParallelism, cpus } from 'node:os'
import { parseStrictJson } from '../src/lib/strict-json.js'

const iterations = Number(process.argv[2] ?? 20_000)
if (!Number.isInteger(iterations) || iterations < 1) {
  process.stderr.write('usage: tsx bench/strict-json.ts [ITERATIONS]\n')
  process.exit(2)
}

const now = new Date().toISOString()
const referral = {
  id: randomUUID(),
  sender: randomUUID(),
  recipient: { agencyId: randomUUID() },
  createdAt: now,
  urgency: 'urgent',
  stage: 'first_assistance',
  victim: {
    reference: 'V-0123456789ABCDEFGHJKMNPQRS',
    linkageToken: 'A'.repeat(43),
    status: 'presumed',
    ageGroup: '21-23',
    minor: false,
    gender: 'female',
    citizenship: ['RO', 'MD'],
    languages: ['ro', 'uk'],
  },
  exploitation: {
    forms: ['forced_labour', 'sexual_exploitation'],
    countries: ['DE', 'AT'],
    identifiedIn: 'DE',
    recruitment: ['online', 'job_offer'],
  },
  needs: ['accommodation', 'psychological', 'medical', 'legal', 'interpretation'],
  consent: { status: 'given', scope: ['assistance', 'onward_sharing'], recordedAt: now, byGuardian: false },
  handling: ['no_onward_sharing'],
  // The shape of a compact JWE; its length is what matters here.
  sensitive: `eyJhbGciOiJFQ0RILUVTK0EyNTZLVyJ9.${'B'.repeat(54)}.${'C'.repeat(16)}.${'D'.repeat(500)}.${'E'.repeat(22)}`,
}
const seconds = Math.floor(Date.now() / 1000)
const claims = {
  iss: randomUUID(),
  sub: randomUUID(),
  aud: 'https://hub.example/v1/oauth/token',
  iat: seconds,
  exp: seconds + 60,
  jti: randomUUID(),
}

const utf8 = new TextDecoder('utf-8', { fatal: true })
/** µs per parse: the fastest of ROUNDS rounds, so that other work on a shared machine counts least. */
const ROUNDS = 7
const perParse = (parse: (bytes: Uint8Array) => unknown, bytes: Uint8Array) => {
  for (let i = 0; i < Math.min(iterations, 20_000); i += 1) parse(bytes)
  let best = Number.POSITIVE_INFINITY
  for (let round = 0; round < ROUNDS; round += 1) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < iterations; i += 1) parse(bytes)
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1000 / iterations)
  }
  return best
}

console.log(
  `Node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? '?'}), fastest of ${ROUNDS} rounds of ${iterations} parses`,
)
console.log('| payload | bytes | JSON.parse µs | parseStrictJson µs | ratio |')
console.log('| --- | --- | --- | --- | --- |')
for (const [name, value] of [
  ['referral document', referral],
  ['client assertion claims', claims],
] as const) {
  const bytes = new TextEncoder().encode(JSON.stringify(value))
  const native = perParse((b) => JSON.parse(utf8.decode(b)), bytes)
  const strict = perParse((b) => parseStrictJson(b), bytes)
  console.log(
    `| ${name} | ${bytes.length} | ${native.toFixed(2)} | ${strict.toFixed(2)} | ${(strict / native).toFixed(1)}× |`,
  )
}
