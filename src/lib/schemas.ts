import { type TSchema, Type } from 'typebox'

/** Shared wire schemas, each with an $id so the OpenAPI document names it once. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    instance: Type.String(),
    code: Type.String({ description: 'Stable TRM_… error code' }),
    errors: Type.Optional(
      Type.Array(
        Type.Object({
          pointer: Type.String({ description: 'RFC 6901 JSON pointer' }),
          detail: Type.String(),
        }),
      ),
    ),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details' },
)

export const Uuid = Type.String({ format: 'uuid' })
export const CountryCode = Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2' })
export const DateTime = Type.String({ format: 'date-time' })
export const Cursor = Type.String({ maxLength: 200, description: 'Opaque cursor from a previous page' })
export const Limit = Type.Integer({ minimum: 1, maximum: 200, default: 50 })

/** Problem responses for the statuses a route can answer with. */
export function problems(...statuses: number[]) {
  return Object.fromEntries(statuses.map((s) => [s, Type.Ref('Problem')]))
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
