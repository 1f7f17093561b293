/**
 * Limits every JSON value the hub accepts is held to before a schema looks at it, so that what
 * Postgres refuses or what would exhaust the stack is a 4xx naming its place, never a 500:
 * - nesting at most MAX_JSON_DEPTH objects and arrays deep (schema checks, hashing for
 *   `uniqueItems` and JSON.stringify all recurse; 20,000 nested arrays overflow the stack);
 * - no U+0000 in any string or member name (Postgres `text` and `jsonb` cannot hold it);
 * - member names at most MAX_MEMBER_NAME_LENGTH characters (so every pointer an error names stays short).
 */
export const MAX_JSON_DEPTH = 32
export const MAX_MEMBER_NAME_LENGTH = 100

export interface JsonLimitProblem {
  /** RFC 6901 pointer to the offending value (for depth, the first container past the limit). */
  pointer: string
  detail: string
  limit: 'depth' | 'nul' | 'member-name'
}

const escapeSegment = (segment: string) => segment.replaceAll('~', '~0').replaceAll('/', '~1')
const pointerOf = (segments: readonly (string | number)[]) =>
  segments.map((s) => `/${escapeSegment(String(s))}`).join('')

export const NUL_DETAIL = 'must not contain the NUL character (U+0000)'
export const depthDetail = (max: number) => `nests objects and arrays more than ${max} deep`

/**
 * Where JSON text nests deeper than `maxDepth`, without parsing it (and so without recursing): one
 * pass over the characters that skips strings. Returns undefined for anything within the limit,
 * malformed text included (the parser that follows refuses that).
 */
export function jsonTextTooDeep(text: string, maxDepth = MAX_JSON_DEPTH): JsonLimitProblem | undefined {
  // Fast path: text with no more brackets than the limit cannot nest deeper than it.
  let brackets = 0
  for (let i = 0; i < text.length && brackets <= maxDepth; i += 1) {
    const c = text.charCodeAt(i)
    if (c === 0x5b || c === 0x7b) brackets += 1
  }
  if (brackets <= maxDepth) return undefined

  // Each open container: an array's current index, or an object's last member name.
  const path: (string | number)[] = []
  const kinds: ('array' | 'object')[] = []
  let expectingName = false
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i]
    if (c === '"') {
      const start = i
      i += 1
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1
      if (expectingName && kinds.at(-1) === 'object') {
        path[path.length - 1] = decodeName(text.slice(start, i + 1))
        expectingName = false
      }
    } else if (c === '[' || c === '{') {
      if (kinds.length >= maxDepth)
        return { pointer: pointerOf(path), detail: depthDetail(maxDepth), limit: 'depth' }
      kinds.push(c === '[' ? 'array' : 'object')
      path.push(c === '[' ? 0 : '')
      expectingName = c === '{'
    } else if (c === ']' || c === '}') {
      kinds.pop()
      path.pop()
    } else if (c === ',') {
      const top = kinds.at(-1)
      if (top === 'array') path[path.length - 1] = (path.at(-1) as number) + 1
      else if (top === 'object') expectingName = true
    }
  }
  return undefined
}

function decodeName(quoted: string): string {
  try {
    return String(JSON.parse(quoted))
  } catch {
    return quoted.slice(1, -1)
  }
}

/**
 * Checks a parsed JSON value (or one built from a query string, parameters or headers) against the
 * limits above without recursing. Returns every problem found (at most `maxProblems`); a value
 * nested too deep gets that one problem only, and nothing below the limit is looked at.
 */
export function jsonValueProblems(
  value: unknown,
  maxDepth = MAX_JSON_DEPTH,
  maxProblems = 50,
): JsonLimitProblem[] {
  const problems: JsonLimitProblem[] = []
  const stack: { value: unknown; path: (string | number)[] }[] = [{ value, path: [] }]
  while (stack.length > 0 && problems.length < maxProblems) {
    const { value: current, path } = stack.pop()!
    if (typeof current === 'string') {
      if (current.includes('\u0000'))
        problems.push({ pointer: pointerOf(path), detail: NUL_DETAIL, limit: 'nul' })
      continue
    }
    if (current === null || typeof current !== 'object') continue
    if (path.length >= maxDepth)
      return [{ pointer: pointerOf(path), detail: depthDetail(maxDepth), limit: 'depth' }]
    const entries: [string | number, unknown][] = Array.isArray(current)
      ? current.map((item, index) => [index, item])
      : Object.entries(current)
    // Pushed in reverse so that problems come out in document order.
    for (let i = entries.length - 1; i >= 0; i -= 1) {
      const [name, child] = entries[i]!
      if (typeof name === 'string') {
        if (name.includes('\u0000')) {
          problems.push({ pointer: pointerOf(path), detail: `member names ${NUL_DETAIL}`, limit: 'nul' })
          continue
        }
        if (name.length > MAX_MEMBER_NAME_LENGTH) {
          problems.push({
            pointer: pointerOf(path),
            detail: `member names are at most ${MAX_MEMBER_NAME_LENGTH} characters`,
            limit: 'member-name',
          })
          continue
        }
      }
      stack.push({ value: child, path: [...path, name] })
    }
  }
  return problems
}
