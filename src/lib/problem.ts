import { ERRORS, type ErrorCode, type FieldError, problemType } from './errors.js'

/** RFC 9457 problem document, as the hub sends it. */
export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  instance: string
  code: ErrorCode
  errors?: FieldError[]
}

export function toProblem(
  code: ErrorCode,
  detail: string,
  requestId: string,
  errors?: FieldError[],
): Problem {
  const problem: Problem = {
    type: problemType(code),
    title: ERRORS[code].title,
    status: ERRORS[code].status,
    detail,
    instance: `urn:trm-hub:request:${requestId}`,
    code,
  }
  if (errors && errors.length > 0) problem.errors = errors
  return problem
}

interface SchemaError {
  keyword: string
  instancePath: string
  schemaPath: string
  message?: string
  params: Record<string, unknown>
}

const escapePointer = (segment: string) => segment.replaceAll('~', '~0').replaceAll('/', '~1')

/**
 * Turns schema-validation errors (TypeBox or Ajv shape) into field errors with JSON pointers.
 * Unknown members are named by their own pointer; a missing member by the pointer it should have.
 */
export function fieldErrors(errors: readonly SchemaError[], prefix = ''): FieldError[] {
  const seen = new Set<string>()
  const out: FieldError[] = []
  const push = (pointer: string, detail: string) => {
    const key = `${pointer} ${detail}`
    if (seen.has(key)) return
    seen.add(key)
    out.push({ pointer, detail })
  }
  for (const error of errors) {
    const base = prefix + error.instancePath
    if (error.keyword === 'boolean' && error.schemaPath.endsWith('additionalProperties')) {
      push(base, 'unknown member is not allowed')
    } else if (error.keyword === 'additionalProperties') {
      for (const name of (error.params['additionalProperties'] as string[] | undefined) ?? []) {
        push(`${base}/${escapePointer(name)}`, 'unknown member is not allowed')
      }
      const single = error.params['additionalProperty']
      if (typeof single === 'string')
        push(`${base}/${escapePointer(single)}`, 'unknown member is not allowed')
    } else if (error.keyword === 'required') {
      const names = (error.params['requiredProperties'] as string[] | undefined) ?? [
        error.params['missingProperty'] as string,
      ]
      for (const name of names) push(`${base}/${escapePointer(String(name))}`, 'is required')
    } else {
      push(base, error.message ?? 'is not valid')
    }
  }
  return out.slice(0, 50)
}
