import fc from 'fast-check'

/** A JSON Schema as the generated OpenAPI document has them (the parts generation reads). */
export interface Schema {
  $ref?: string
  type?: string | string[]
  enum?: unknown[]
  const?: unknown
  format?: string
  pattern?: string
  minLength?: number
  maxLength?: number
  minimum?: number
  maximum?: number
  minItems?: number
  maxItems?: number
  uniqueItems?: boolean
  items?: Schema
  properties?: Record<string, Schema>
  required?: string[]
  anyOf?: Schema[]
  oneOf?: Schema[]
}

export interface Pools {
  /** Ids worth hitting: agencies and referrals that exist, besides random ones. */
  ids: readonly string[]
  countries: readonly string[]
  /** Valid values of named components (a signed referral, a real public key), besides generated ones. */
  examples?: Record<string, readonly unknown[]>
}

const ISO_TIMES = fc
  .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2040-01-01T00:00:00Z'), noInvalidDate: true })
  .map((d) => d.toISOString())

function stringArbitrary(schema: Schema, pools: Pools): fc.Arbitrary<string> {
  const maxLength = Math.min(schema.maxLength ?? 40, 40)
  switch (schema.format) {
    case 'uuid':
      return fc.oneof(fc.constantFrom(...pools.ids), fc.uuid())
    case 'date-time':
      return ISO_TIMES
    case 'date':
      return ISO_TIMES.map((t) => t.slice(0, 10))
    case 'uri':
      return fc.constantFrom('https://hooks.example.org/trm', 'http://127.0.0.1:9/hook', 'https://[::1]/x')
  }
  switch (schema.pattern) {
    case '^[A-Z]{2}$':
      return fc.constantFrom(...pools.countries)
    case '^[a-z]{2}$':
      return fc.constantFrom('ro', 'de', 'uk')
    case '^[A-Za-z0-9_-]+$':
      return fc.base64String({ maxLength: 24 }).map((s) => s.replace(/[+/=]/g, '') || 'eyJzIjoxfQ')
    case '^[a-z][a-z_.]{0,63}$':
      return fc.constantFrom('referral.submitted', 'token.issued', 'agency.created')
    case undefined:
    case '^[^\\u0000]*$':
      return fc.string({ minLength: Math.min(schema.minLength ?? 0, maxLength), maxLength })
  }
  // Other patterns: a value of the pattern is not needed, the mutations cover refusals anyway.
  return fc.stringMatching(new RegExp(schema.pattern!)).filter((s) => s.length <= (schema.maxLength ?? 1e9))
}

/** Values that satisfy `schema` (as far as formats and patterns go), resolving $refs in `components`. */
export function valueArbitrary(
  schema: Schema,
  components: Record<string, Schema>,
  pools: Pools,
  depth = 0,
): fc.Arbitrary<unknown> {
  if (schema.$ref) {
    const name = schema.$ref.split('/').at(-1)!
    const generated = valueArbitrary(components[name]!, components, pools, depth)
    const examples = pools.examples?.[name]
    return examples?.length
      ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...examples) }, { weight: 1, arbitrary: generated })
      : generated
  }
  if (schema.const !== undefined) return fc.constant(schema.const)
  if (schema.enum) return fc.constantFrom(...schema.enum)
  const alternatives = schema.anyOf ?? schema.oneOf
  if (alternatives) return fc.oneof(...alternatives.map((s) => valueArbitrary(s, components, pools, depth)))
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type
  switch (type) {
    case 'string':
      return stringArbitrary(schema, pools)
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -1000, max: Math.min(schema.maximum ?? 1000, 1000) })
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true })
    case 'boolean':
      return fc.boolean()
    case 'null':
      return fc.constant(null)
    case 'array': {
      const item = valueArbitrary(schema.items ?? {}, components, pools, depth + 1)
      const constraints = {
        minLength: schema.minItems ?? 0,
        maxLength: Math.max(schema.minItems ?? 0, Math.min(schema.maxItems ?? 3, 3)),
      }
      return schema.uniqueItems
        ? fc.uniqueArray(item, { ...constraints, selector: (v) => JSON.stringify(v) })
        : fc.array(item, constraints)
    }
    case 'object': {
      if (depth > 4) return fc.constant({})
      const required = new Set(schema.required ?? [])
      const entries = Object.entries(schema.properties ?? {}).map(([name, property]) => {
        const value = valueArbitrary(property, components, pools, depth + 1)
        return [name, required.has(name) ? value : fc.option(value, { nil: undefined })] as const
      })
      return fc
        .record(Object.fromEntries(entries))
        .map((record) => Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)))
    }
  }
  return fc.anything({ maxDepth: 2 })
}

/** Values no schema of the hub should take where it expects something else, or that push a limit. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    -1,
    0,
    2 ** 53,
    1e308,
    '',
    '\u0000',
    'a\u0000b',
    '\uD800',
    '💥',
    '0000-01-01T00:00:00Z',
    '2026-01-01T00:00:00+20:00',
    '9999-12-31T23:59:60Z',
    'urn:uuid:01a23d01-ff02-72db-8620-29e958a8f72c',
    '01A23D01-FF02-72DB-8620-29E958A8F72C',
    '../../etc/passwd',
    "' or 1=1 --",
    'x'.repeat(5000),
    [],
    {},
    { __proto__: { admin: true } },
    JSON.parse('{"__proto__":{"x":1}}'),
    JSON.parse(`${'['.repeat(40)}${']'.repeat(40)}`),
  ),
  fc.string({ maxLength: 30 }),
  fc.integer(),
  fc.anything({ maxDepth: 2 }),
)
