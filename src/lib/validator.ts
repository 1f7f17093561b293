import type { FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify'
import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { Value } from 'typebox/value'
import { schemaContext } from './schemas.js'

/**
 * TypeBox validation for Fastify routes, resolving `Type.Ref('Name')` against the shared schemas.
 * Bodies are checked as sent (no coercion, unknown members refused where the schema says so);
 * querystring, params and headers are converted from strings first.
 */
export function typeboxValidatorCompiler(shared: readonly TSchema[]): FastifySchemaCompiler<TSchema> {
  const context = schemaContext(shared)
  return ({ schema, httpPart }) => {
    const validator = Compile(context, schema)
    return (value: unknown) => {
      const input = httpPart === 'body' ? value : Value.Convert(context, schema, value)
      if (validator.Check(input)) return { value: input }
      return { error: validator.Errors(input) as unknown as FastifySchemaValidationError[] }
    }
  }
}
