import type { FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify'
import type { Static, TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { Value } from 'typebox/value'
import { registerHubFormats } from './formats.js'
import { jsonValueProblems } from './json-limits.js'
import { schemaContext } from './schemas.js'

// Formats are looked up when a schema is compiled, so they are in place before anything compiles one.
registerHubFormats()

/** A schema error in the shape `fieldErrors` (lib/problem.ts) and Fastify read. */
export interface SchemaError {
  keyword: string
  instancePath: string
  schemaPath: string
  message: string
  params: Record<string, unknown>
}

export interface InputCheck<T> {
  Check(value: unknown): value is T
  Errors(value: unknown): SchemaError[]
}

/**
 * Compiles a check of untrusted input against a schema, with the limits of lib/json-limits.ts
 * applied first: a value nested too deep is refused before the schema recurses into it, and a NUL
 * in any string or member name is refused whether or not the schema says so. Every schema that
 * checks what a caller sent (requests, signed documents) goes through this.
 */
export function compileInputCheck<T extends TSchema>(
  schema: T,
  context: Record<string, TSchema> = {},
): InputCheck<Static<T>> {
  const validator = Compile(context, schema)
  return {
    Check: (value: unknown): value is Static<T> =>
      jsonValueProblems(value).length === 0 && validator.Check(value),
    Errors(value: unknown): SchemaError[] {
      const limits: SchemaError[] = jsonValueProblems(value).map((problem) => ({
        keyword: problem.limit,
        instancePath: problem.pointer,
        schemaPath: '#',
        message: problem.detail,
        params: {},
      }))
      // Past the depth limit the schema's own error reporting would recurse too: the limit is the answer.
      if (limits.some((e) => e.keyword === 'depth')) return limits
      const named = new Set(limits.map((e) => e.instancePath))
      const schemaErrors = (validator.Errors(value) as unknown as SchemaError[]).filter(
        (e) => !named.has(e.instancePath),
      )
      return [...limits, ...schemaErrors]
    },
  }
}

/**
 * TypeBox validation for Fastify routes, resolving `Type.Ref('Name')` against the shared schemas.
 * Bodies are checked as sent (no coercion, unknown members refused where the schema says so);
 * querystring, params and headers are converted from strings first. Every part is held to the input
 * limits of `compileInputCheck`.
 */
export function typeboxValidatorCompiler(shared: readonly TSchema[]): FastifySchemaCompiler<TSchema> {
  const context = schemaContext(shared)
  return ({ schema, httpPart }) => {
    const check = compileInputCheck(schema, context)
    return (value: unknown) => {
      const input = httpPart === 'body' ? value : Value.Convert(context, schema, value)
      if (check.Check(input)) return { value: input }
      return { error: check.Errors(input) as unknown as FastifySchemaValidationError[] }
    }
  }
}
