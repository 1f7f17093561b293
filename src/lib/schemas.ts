import { type TSchema, type TStringOptions, Type } from 'typebox'
import { ERRORS } from './errors.js'

import { MAX_JSON_DEPTH, MAX_MEMBER_NAME_LENGTH } from './json-limits.js'

// Every string, array and integer of the wire schemas is bounded (OWASP API4:2023, checked by
// Spectral in `npm run openapi:check`). The same schemas check requests and signed documents, so the
// bounds on inputs are enforced; on answers they state what the hub sends.

/** No U+0000 anywhere: Postgres text cannot hold it (lib/validator.ts refuses it in any input too). */
export const NO_NUL = '^[^\\u0000]*$'

/** Free text of at most `maxLength` characters, without NUL. */
export const Text = (maxLength: number, options: Omit<TStringOptions, 'maxLength'> = {}) =>
  Type.String({ pattern: NO_NUL, ...options, maxLength })

/** A string that must match an anchored `pattern` (which excludes NUL by its own character classes). */
export const Matching = (
  pattern: string,
  maxLength: number,
  options: Omit<TStringOptions, 'maxLength'> = {},
) => Type.String({ ...options, pattern, maxLength })

const BASE64URL_PART = '[A-Za-z0-9_-]'
export const BASE64URL = `^${BASE64URL_PART}+$`
/** A compact JWS (RFC 7515 §7.1) of at most `maxLength` characters. */
export const CompactJws = (maxLength: number, options: Omit<TStringOptions, 'maxLength'> = {}) =>
  Matching(`^${BASE64URL_PART}+\\.${BASE64URL_PART}*\\.${BASE64URL_PART}+$`, maxLength, options)
/** A compact JWE (RFC 7516 §7.1) of at most `maxLength` characters. */
export const CompactJwe = (maxLength: number, options: Omit<TStringOptions, 'maxLength'> = {}) =>
  Matching(
    `^${BASE64URL_PART}+\\.${BASE64URL_PART}*\\.${BASE64URL_PART}+\\.${BASE64URL_PART}+\\.${BASE64URL_PART}+$`,
    maxLength,
    options,
  )

/** A hub-signed statement (receipt, checkpoint, access token): a small compact JWS. */
export const HubStatement = (description: string) => CompactJws(4096, { description })

const INT32_MAX = 2_147_483_647
/** An integer within [minimum, maximum], int32 (maximum at most 2^31 − 1). */
export const Int32 = (minimum: number, maximum = INT32_MAX, options: Record<string, unknown> = {}) =>
  Type.Integer({ ...options, format: 'int32', minimum, maximum })
/** An integer within [minimum, 2^53 − 1] (what JSON numbers carry exactly): Postgres bigint counters. */
export const Int64 = (minimum: number, options: Record<string, unknown> = {}) =>
  Type.Integer({ ...options, format: 'int64', minimum, maximum: Number.MAX_SAFE_INTEGER })

/** The largest JSON body or signed document the hub reads nests this deep at most. */
export { MAX_JSON_DEPTH }

/**
 * The longest RFC 6901 pointer an error can name: MAX_JSON_DEPTH segments of member names of at
 * most MAX_MEMBER_NAME_LENGTH characters, each character escaped to two at worst, plus the request part.
 */
const MAX_POINTER_LENGTH = MAX_JSON_DEPTH * (1 + 2 * MAX_MEMBER_NAME_LENGTH) + 20

/** Shared wire schemas, each with an $id so the OpenAPI document names it once. */
export const ProblemSchema = Type.Object(
  {
    type: Matching('^urn:trm-hub:problem:[a-z-]+$', 100),
    title: Text(100),
    status: Int32(400, 599),
    detail: Text(20_000, {
      description: 'What to fix (4xx) or the request id to quote (5xx); it can repeat the request path',
    }),
    instance: Matching('^urn:trm-hub:request:[0-9a-f-]{36}$', 60),
    code: Type.Enum(Object.keys(ERRORS), { description: 'Stable TRM_… error code' }),
    errors: Type.Optional(
      Type.Array(
        Type.Object({
          pointer: Text(MAX_POINTER_LENGTH, { description: 'RFC 6901 JSON pointer' }),
          detail: Text(1000),
        }),
        { maxItems: 50 },
      ),
    ),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details' },
)

export const Uuid = Type.String({ format: 'uuid', maxLength: 36 })
/** A JWK `kid` (RFC 7517 §4.5): any text, bounded, without NUL. */
export const KeyId = Text(200, { minLength: 1 })
export const CountryCode = Matching('^[A-Z]{2}$', 2, { description: 'ISO 3166-1 alpha-2' })
/** RFC 3339, years 0001–9999, offsets within ±14:00 (lib/formats.ts). */
export const DateTime = Type.String({ format: 'date-time', maxLength: 40 })
export const Cursor = Matching(BASE64URL, 200, { description: 'Opaque cursor from a previous page' })
export const Limit = Int32(1, 200, { default: 50 })
/** The most items one page of a list holds (the `limit` maximum). */
export const MAX_PAGE_ITEMS = 200
export const NextCursor = Type.Union([Cursor, Type.Null()], {
  description: 'Pass as `after` for the following page',
})

/** Problem responses for the statuses a route can answer with. */
export function problems(...statuses: number[]) {
  return Object.fromEntries(statuses.map((s) => [s, Ref(ProblemSchema)]))
}

export const IdParams = Type.Object({ id: Uuid })

/** OpenAPI security requirement for an operation needing these scopes. */
export const secured = (...scopes: string[]): Record<string, string[]>[] => [
  { oauth2: scopes },
  { bearer: scopes },
]

/** Shared schemas by $id, the context TypeBox needs to resolve `Type.Ref(name)`. */
export const schemaContext = (schemas: readonly TSchema[]): Record<string, TSchema> =>
  Object.fromEntries(schemas.map((s) => [(s as unknown as { $id: string }).$id, s]))

/**
 * A reference to a schema registered by its `$id` (app.addSchema): `{ $ref }` in the route and the
 * OpenAPI document, while handlers see the schema's own type (a plain Type.Ref infers nothing).
 */
export function Ref<T extends TSchema>(schema: T): T {
  const id = (schema as { $id?: unknown }).$id
  if (typeof id !== 'string') throw new TypeError('Ref needs a schema with an $id')
  return Type.Ref(id) as unknown as T
}
