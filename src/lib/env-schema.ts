import { type TSchema, Type } from 'typebox'
import { Value } from 'typebox/value'

/**
 * Environment variables described by TypeBox schemas: strings in, with the checks JSON Schema
 * cannot make on a string (a number's bounds) and messages that never repeat the value given.
 */
export const Bool = Type.Union([Type.Literal('true'), Type.Literal('false')])
/** A whole number in an environment string; its bounds are checked by `invalidValues` (JSON Schema's apply to numbers only). */
export const Int = (options: { minimum: number; maximum?: number }) =>
  Type.String({ pattern: '^[0-9]+$', ...options })

/**
 * The values a variable may take, from its schema: the list of a choice, the range of a number, or
 * the form of a string. Never the value given, which may be a secret (a password in a URL, keys).
 */
function allowedValues(name: string, schema: Record<string, unknown>, words: Record<string, string>): string {
  const choices = (schema['anyOf'] as { const?: unknown }[] | undefined)?.map((choice) => choice.const)
  if (choices) return `must be one of ${choices.join(', ')}`
  if (schema['pattern'] === '^[0-9]+$') {
    const { minimum, maximum } = schema as { minimum?: number; maximum?: number }
    return `must be a whole number${minimum === undefined ? '' : ` from ${minimum}`}${maximum === undefined ? '' : ` to ${maximum}`}`
  }
  if (words[name]) return `must be ${words[name]}`
  if (typeof schema['pattern'] === 'string') return `must match ${schema['pattern']}`
  return 'must not be empty'
}

/** Each variable set to a value its schema refuses, with the values it may take. */
export function invalidValues(
  schema: { properties: Record<string, unknown> },
  env: Record<string, string>,
  words: Record<string, string> = {},
) {
  const problems = new Map<string, string>()
  for (const [name, property] of Object.entries(schema.properties)) {
    const value = env[name]
    if (value === undefined) continue
    const definition = property as Record<string, unknown> & { minimum?: number; maximum?: number }
    const allowed = allowedValues(name, definition, words)
    if (!Value.Check(property as TSchema, value)) problems.set(name, `is invalid: ${allowed}`)
    else if (definition.minimum !== undefined && Number(value) < definition.minimum)
      problems.set(name, `is below ${definition.minimum}: ${allowed}`)
    else if (definition.maximum !== undefined && Number(value) > definition.maximum)
      problems.set(name, `is above ${definition.maximum}: ${allowed}`)
  }
  return problems
}

/** The configuration refused, with every variable at fault (never their values). */
export class ConfigError extends Error {
  readonly variables: string[]
  constructor(problems: { variable: string; message: string }[]) {
    const lines = problems.map((p) => `  ${p.variable}: ${p.message}`)
    super(`invalid configuration (${problems.length} variable(s)):\n${lines.join('\n')}`)
    this.name = 'ConfigError'
    this.variables = problems.map((p) => p.variable)
  }
}
