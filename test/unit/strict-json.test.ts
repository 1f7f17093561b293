import fc from 'fast-check'
import t from 'tap'
import {
  parseStrictJson,
  parseStrictJsonText,
  StrictJsonError,
  type StrictJsonProblem,
  toPointer,
} from '../../src/lib/strict-json.js'

// parseStrictJson is the one reading of every signed payload the hub accepts: it must give what
// JSON.parse gives for every text it accepts, and refuse every text with two readings.

const refusal = (run: () => unknown): { problem: StrictJsonProblem; pointer: string; message: string } => {
  try {
    run()
  } catch (error) {
    if (error instanceof StrictJsonError)
      return { problem: error.problem, pointer: error.pointer, message: error.message }
    throw error
  }
  throw new Error('expected a StrictJsonError')
}

/** A text as ASCII, for a test name (a raw U+2028 would break the TAP stream). */
const show = (text: string) =>
  JSON.stringify(text).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

t.test('duplicate member names are refused at any depth, with the pointer of the name', async (t) => {
  const cases: [string, string][] = [
    ['{"recipient":{"agencyId":"a"},"id":"x","recipient":{"agencyId":"b"}}', '/recipient'],
    ['{"victim":{"minor":true,"gender":"female","minor":false}}', '/victim/minor'],
    ['{"needs":["medical"],"list":[{"a":1},{"a":1,"a":2}]}', '/list/1/a'],
    ['[[{"deep":{"x":1,"x":1}}]]', '/0/0/deep/x'],
    ['{"a":{},"a":{}}', '/a'],
    // Names compare after escapes are decoded: "recip\\u0069ent" is "recipient".
    ['{"recipient":1,"recip\\u0069ent":2}', '/recipient'],
    ['{"a/b~c":{"d":1,"d":2}}', '/a~1b~0c/d'],
    ['{"":1,"":2}', '/'],
    ['{"__proto__":1,"__proto__":2}', '/__proto__'],
  ]
  for (const [text, pointer] of cases) {
    const refused = refusal(() => parseStrictJsonText(text))
    t.equal(refused.problem, 'duplicate-name', show(text))
    t.equal(refused.pointer, pointer, show(text))
    t.match(refused.message, /twice in one object.*RFC 7493 §2\.3/)
  }
  t.same(
    parseStrictJsonText('{"a":{"b":1},"c":{"b":2}}'),
    { a: { b: 1 }, c: { b: 2 } },
    'the same name in two objects',
  )
})

t.test('lone surrogates are refused in strings and member names; pairs are characters', async (t) => {
  t.match(
    refusal(() => parseStrictJsonText('{"note":"x\\ud800"}')),
    { problem: 'lone-surrogate', pointer: '/note' },
  )
  t.match(
    refusal(() => parseStrictJsonText('{"note":["ok","\\udc00\\ud800"]}')),
    {
      problem: 'lone-surrogate',
      pointer: '/note/1',
    },
  )
  t.match(
    refusal(() => parseStrictJsonText('{"inner":{"\\udfff":1}}')),
    {
      problem: 'lone-surrogate',
      pointer: '/inner',
    },
  )
  t.equal(parseStrictJsonText('"\\ud83d\\ude00"'), '😀')
  t.equal(parseStrictJsonText('"😀"'), '😀')
})

t.test('noncharacters are refused (RFC 7493 §2.1)', async (t) => {
  for (const text of ['"\\uffff"', '"\\ufdd0"', '"\\ud83f\\udffe"', '{"a":"\uFFFE"}']) {
    t.equal(refusal(() => parseStrictJsonText(text)).problem, 'noncharacter', show(text))
  }
  t.equal(parseStrictJsonText('"\\ufffd"'), '\uFFFD', 'the replacement character is a character')
})

t.test('bytes that are not UTF-8 are refused, and so is a byte order mark', async (t) => {
  const bytes = (...values: number[]) => Uint8Array.from(values)
  const quoted = (...inner: number[]) => bytes(0x22, ...inner, 0x22)
  for (const [name, input] of [
    ['a lone continuation byte', quoted(0x80)],
    ['0xff', quoted(0xff)],
    ['an overlong slash', quoted(0xc0, 0xaf)],
    ['a UTF-8-encoded surrogate (CESU-8)', quoted(0xed, 0xa0, 0x80)],
    ['a code point past U+10FFFF', quoted(0xf4, 0x90, 0x80, 0x80)],
    ['a truncated sequence', quoted(0xe2, 0x82)],
  ] as const) {
    t.match(
      refusal(() => parseStrictJson(input)),
      { problem: 'encoding', pointer: '' },
      name,
    )
  }
  t.equal(refusal(() => parseStrictJson(bytes(0xef, 0xbb, 0xbf, 0x7b, 0x7d))).problem, 'syntax', 'BOM')
  t.equal(parseStrictJson(quoted(0xe2, 0x82, 0xac)), '€')
})

t.test('numbers binary64 does not hold as written are refused (RFC 7493 §2.2)', async (t) => {
  t.match(
    refusal(() => parseStrictJsonText('{"n":1e400}')),
    { problem: 'number', pointer: '/n' },
  )
  t.match(
    refusal(() => parseStrictJsonText('[-1e400]')),
    { problem: 'number', pointer: '/0' },
  )
  t.match(
    refusal(() => parseStrictJsonText('{"iat":9007199254740993}')),
    { problem: 'number', pointer: '/iat' },
  )
  t.same(
    parseStrictJsonText('[9007199254740991,-9007199254740991,1e20,0.1,-0,1.5e-300]'),
    [9007199254740991, -9007199254740991, 1e20, 0.1, -0, 1.5e-300],
  )
})

t.test('the RFC 8259 grammar only: what JSON.parse refuses is refused', async (t) => {
  const texts = [
    '',
    ' ',
    '{"a":1,}',
    '[1,]',
    '// c\n{}',
    '/* c */{}',
    "{'a':1}",
    '{a:1}',
    '01',
    '1.',
    '.1',
    '+1',
    'NaN',
    'Infinity',
    '0x10',
    '"\\x41"',
    '"a\tb"',
    '"a\u0000b"',
    '{"a":1}x',
    '{"a":1} {"b":2}',
    '\u00a0{}',
    '\u2028{}',
    '"abc',
    '[',
    'tru',
  ]
  for (const text of texts) {
    t.throws(() => JSON.parse(text), `JSON.parse refuses ${show(text)}`)
    t.equal(refusal(() => parseStrictJsonText(text)).problem, 'syntax', show(text))
  }
})

t.test('nesting deeper than maxDepth is refused before the stack is at risk', async (t) => {
  t.match(
    refusal(() => parseStrictJsonText('[[[1]]]', { maxDepth: 2 })),
    { problem: 'depth', pointer: '/0/0' },
  )
  t.same(parseStrictJsonText('[[1]]', { maxDepth: 2 }), [[1]])
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`
  t.equal(refusal(() => parseStrictJsonText(deep)).problem, 'depth', '100,000 nested arrays')
})

t.test('__proto__ is an own member, as with JSON.parse, never the prototype', async (t) => {
  const value = parseStrictJsonText('{"__proto__":{"polluted":true},"a":1}') as Record<string, unknown>
  t.equal(Object.getPrototypeOf(value), Object.prototype)
  t.ok(Object.hasOwn(value, '__proto__'))
  t.equal(({} as Record<string, unknown>)['polluted'], undefined)
  t.same(Object.keys(value), Object.keys(JSON.parse('{"__proto__":{"polluted":true},"a":1}')))
})

t.test('toPointer escapes ~ and / (RFC 6901 §3)', async (t) => {
  t.equal(toPointer(['a/b', 'm~n', 0, '']), '/a~1b/m~0n/0/')
  t.equal(toPointer([]), '')
})

t.test('property: every JSON text it accepts reads as JSON.parse reads it', async (t) => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      const text = JSON.stringify(value)
      try {
        t.same(parseStrictJsonText(text), JSON.parse(text))
        return true
      } catch (error) {
        // JSON.stringify writes unique names and well-formed strings; only a number may be refused.
        return error instanceof StrictJsonError && error.problem === 'number'
      }
    }),
    { numRuns: 300 },
  )
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (text) => {
      let strict: unknown
      try {
        strict = parseStrictJsonText(text)
      } catch {
        return true
      }
      t.same(strict, JSON.parse(text), 'accepted only what JSON.parse accepts, with the same value')
      return true
    }),
    { numRuns: 2000 },
  )
})
