import type { JsonSchema } from './hub.js'

/**
 * Reading the referral document's JSON Schema (from the hub's OpenAPI document) as form fields: every
 * field of the form, and every label of the document view, comes from here.
 */
export type FieldKind =
  | { kind: 'object'; properties: [string, JsonSchema][] }
  | { kind: 'enum'; values: string[] }
  | { kind: 'enumList'; values: string[]; minItems: number }
  | { kind: 'country' }
  | { kind: 'countryList'; minItems: number; maxItems: number }
  | { kind: 'language' }
  | { kind: 'languageList'; minItems: number; maxItems: number }
  | { kind: 'boolean' }
  | { kind: 'dateTime' }
  | { kind: 'text'; maxLength: number; pattern?: string }
  | { kind: 'unknown' }

const COUNTRY_PATTERN = '^[A-Z]{2}$'
const LANGUAGE_PATTERN = '^[a-z]{2}$'

/** Fields the console fills itself (ids, times, routing, the encrypted details) or cannot (linkage,
 *  onward referral: not offered by the console yet). */
export const FILLED_BY_CONSOLE = new Set([
  'id',
  'sender',
  'createdAt',
  'recipient',
  'onwardOf',
  'sensitive',
  'victim.linkageToken',
  'consent.recordedAt',
])

/**
 * The order a case worker fills a referral in, by member name at any depth (the schema lists members
 * alphabetically); anything the schema adds later comes after, alphabetically.
 */
const ORDER = [
  'urgency',
  'stage',
  'victim',
  'exploitation',
  'needs',
  'consent',
  'handling',
  'status',
  'ageGroup',
  'minor',
  'gender',
  'citizenship',
  'languages',
  'reference',
  'forms',
  'countries',
  'identifiedIn',
  'recruitment',
  'scope',
  'byGuardian',
]

export function fieldKind(schema: JsonSchema): FieldKind {
  if (schema.type === 'object' && schema.properties) {
    const properties = Object.entries(schema.properties).sort(
      ([a], [b]) => rank(a) - rank(b) || a.localeCompare(b),
    )
    return { kind: 'object', properties }
  }
  if (schema.enum) return { kind: 'enum', values: schema.enum }
  if (schema.type === 'boolean') return { kind: 'boolean' }
  if (schema.type === 'array' && schema.items) {
    const item = schema.items
    const minItems = schema.minItems ?? 0
    const maxItems = schema.maxItems ?? 100
    if (item.enum) return { kind: 'enumList', values: item.enum, minItems }
    if (item.pattern === COUNTRY_PATTERN) return { kind: 'countryList', minItems, maxItems }
    if (item.pattern === LANGUAGE_PATTERN) return { kind: 'languageList', minItems, maxItems }
  }
  if (schema.type === 'string') {
    if (schema.pattern === COUNTRY_PATTERN) return { kind: 'country' }
    if (schema.pattern === LANGUAGE_PATTERN) return { kind: 'language' }
    if (schema.format === 'date-time') return { kind: 'dateTime' }
    return {
      kind: 'text',
      maxLength: schema.maxLength ?? 200,
      ...(schema.pattern ? { pattern: schema.pattern } : {}),
    }
  }
  return { kind: 'unknown' }
}

function rank(name: string) {
  const index = ORDER.indexOf(name)
  return index === -1 ? ORDER.length : index
}

export type FormValue = { [key: string]: unknown }

/** The empty value of a schema: nothing chosen, no list item, unchecked. */
export function emptyValue(schema: JsonSchema, path: string[] = []): unknown {
  const field = fieldKind(schema)
  switch (field.kind) {
    case 'object':
      return Object.fromEntries(
        field.properties
          .filter(([name]) => !FILLED_BY_CONSOLE.has([...path, name].join('.')))
          .map(([name, child]) => [name, emptyValue(child, [...path, name])]),
      )
    case 'enumList':
    case 'countryList':
    case 'languageList':
      return []
    case 'boolean':
      return false
    default:
      return ''
  }
}

export function getIn(value: unknown, path: string[]): unknown {
  return path.reduce<unknown>((node, key) => (node as FormValue | undefined)?.[key], value)
}

export function setIn(value: FormValue, path: string[], next: unknown): FormValue {
  const [head, ...rest] = path
  if (head === undefined) return value
  return { ...value, [head]: rest.length === 0 ? next : setIn((value[head] ?? {}) as FormValue, rest, next) }
}

/** Pointer (RFC 6901) → message key, for each field that is required and empty or too short. */
export function missingFields(schema: JsonSchema, value: unknown, path: string[] = []): Map<string, string> {
  const errors = new Map<string, string>()
  const field = fieldKind(schema)
  if (field.kind !== 'object') return errors
  for (const [name, child] of field.properties) {
    const childPath = [...path, name]
    if (FILLED_BY_CONSOLE.has(childPath.join('.'))) continue
    const required = schema.required?.includes(name) ?? false
    const childValue = getIn(value, [name])
    const childKind = fieldKind(child)
    const pointer = `/${childPath.join('/')}`
    if (childKind.kind === 'object') {
      for (const [key, message] of missingFields(child, childValue, childPath)) errors.set(key, message)
    } else if (Array.isArray(childValue)) {
      const minItems = 'minItems' in childKind ? childKind.minItems : 0
      if (childValue.length < minItems) errors.set(pointer, 'form.chooseAtLeastOne')
    } else if (required && childValue === '') {
      errors.set(pointer, 'form.required')
    } else if (childKind.kind === 'text' && childKind.pattern && childValue !== '') {
      if (!new RegExp(childKind.pattern).test(String(childValue))) errors.set(pointer, 'form.invalid')
    }
  }
  return errors
}

/** The form's value as document members: optional empty text and empty optional lists left out. */
export function documentMembers(schema: JsonSchema, value: unknown): unknown {
  const field = fieldKind(schema)
  if (field.kind !== 'object') return value
  const members: FormValue = {}
  for (const [name, child] of field.properties) {
    const childValue = (value as FormValue | undefined)?.[name]
    if (childValue === undefined) continue
    const required = schema.required?.includes(name) ?? false
    if (!required && (childValue === '' || (Array.isArray(childValue) && childValue.length === 0))) continue
    members[name] = documentMembers(child, childValue)
  }
  return members
}
