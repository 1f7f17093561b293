import { type ParseErrorCode, printParseErrorCode, visit } from 'jsonc-parser'

// A signed document must have one reading. JSON.parse keeps the last of two members with the same
// name, other parsers the first, so a document with a duplicate is two documents under one signature
// (RFC 8725 §3.11). I-JSON (RFC 7493) closes that: UTF-8 only (§2.1), no surrogate or noncharacter
// code points (§2.1), no numbers beyond binary64 (§2.2), unique names (§2.3). jsonc-parser's visitor
// (Microsoft, no dependencies) runs the RFC 8259 grammar here with comments and trailing commas
// refused; it keeps every member name, so the value is built here and checked as it is built, in one
// pass over the text.

/** What makes a JSON text refused by {@link parseStrictJson}. */
export type StrictJsonProblem =
  | 'encoding'
  | 'syntax'
  | 'duplicate-name'
  | 'lone-surrogate'
  | 'noncharacter'
  | 'number'
  | 'depth'

/** A JSON text refused, with the RFC 6901 pointer (into the value) of the place at fault. */
export class StrictJsonError extends Error {
  constructor(
    readonly problem: StrictJsonProblem,
    /** `''` is the whole text; for a bad member name, the object that holds it. */
    readonly pointer: string,
    /** What is wrong, to follow the name of the text: "The signed payload " + reason. */
    readonly reason: string,
  ) {
    super(`The JSON text ${reason}`)
    this.name = 'StrictJsonError'
  }
}

export interface StrictJsonOptions {
  /** Objects and arrays nested deeper than this are refused (default 32). */
  maxDepth?: number
}

const DEFAULT_MAX_DEPTH = 32
// ignoreBOM keeps a leading U+FEFF in the text, where the grammar refuses it (RFC 8259 §8.1).
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
// Any code unit that could start a problem; the exact test runs only when one is there.
const SUSPECT = /[\uD800-\uDFFF\uFDD0-\uFDEF\uFFFE\uFFFF]/
const LONE_SURROGATE = /\p{Cs}/u
const NONCHARACTER = /\p{Noncharacter_Code_Point}/u
const INTEGER_TOKEN = /^-?\d+$/

const escapeSegment = (segment: string | number) =>
  String(segment).replaceAll('~', '~0').replaceAll('/', '~1')

/** An RFC 6901 pointer from path segments. */
export const toPointer = (path: readonly (string | number)[]): string =>
  path.map((segment) => `/${escapeSegment(segment)}`).join('')

function checkText(text: string, where: () => string, what: string): void {
  if (!SUSPECT.test(text)) return
  if (LONE_SURROGATE.test(text)) {
    throw new StrictJsonError(
      'lone-surrogate',
      where(),
      `has a lone surrogate in ${what}, which is no character (I-JSON, RFC 7493 §2.1).`,
    )
  }
  if (NONCHARACTER.test(text)) {
    throw new StrictJsonError(
      'noncharacter',
      where(),
      `has a Unicode noncharacter in ${what} (I-JSON, RFC 7493 §2.1).`,
    )
  }
}

/** A number binary64 cannot hold as written: one too large, or an integer literal past 2^53 (§2.2). */
function checkNumber(value: number, token: string, where: () => string): void {
  if (Number.isSafeInteger(value) || (Number.isFinite(value) && !INTEGER_TOKEN.test(token))) return
  throw new StrictJsonError(
    'number',
    where(),
    `has the number ${token.slice(0, 40)}, which a binary64 number does not hold exactly (I-JSON, RFC 7493 §2.2).`,
  )
}

type Container = Record<string, unknown> | unknown[]

/**
 * Parses a JSON text that must be I-JSON (RFC 7493): the RFC 8259 grammar with no comments, trailing
 * commas or byte order mark; member names unique in every object (compared after escapes are
 * decoded); no lone surrogate or noncharacter in any name or string; no number that binary64 cannot
 * hold as written; nesting at most `maxDepth` deep. Returns the same value `JSON.parse` would (a
 * `__proto__` member is an own property, as there), or throws a {@link StrictJsonError} naming the
 * first place at fault.
 */
export function parseStrictJsonText(text: string, options: StrictJsonOptions = {}): unknown {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH
  const containers: Container[] = []
  const names: string[] = []
  let root: unknown
  let hasRoot = false

  const add = (value: unknown) => {
    const depth = containers.length
    if (depth === 0) {
      root = value
      hasRoot = true
      return
    }
    const parent = containers[depth - 1]!
    if (Array.isArray(parent)) {
      parent.push(value)
      return
    }
    const name = names[depth - 1]!
    if (name === '__proto__') {
      Object.defineProperty(parent, name, { value, writable: true, enumerable: true, configurable: true })
    } else {
      parent[name] = value
    }
  }
  const open = (container: Container, path: () => (string | number)[]) => {
    if (containers.length >= maxDepth) {
      throw new StrictJsonError('depth', toPointer(path()), `is nested deeper than ${maxDepth} levels.`)
    }
    containers.push(container)
    names.push('')
  }
  const close = () => {
    names.pop()
    add(containers.pop())
  }

  visit(
    text,
    {
      onObjectBegin: (_offset, _length, _line, _column, path) => open({}, path),
      onObjectEnd: close,
      onArrayBegin: (_offset, _length, _line, _column, path) => open([], path),
      onArrayEnd: close,
      onObjectProperty: (name, _offset, _length, _line, _column, path) => {
        const object = containers.at(-1) as Record<string, unknown>
        checkText(name, () => toPointer(path()), 'a member name')
        if (Object.hasOwn(object, name)) {
          throw new StrictJsonError(
            'duplicate-name',
            toPointer([...path(), name]),
            `has the member name ${JSON.stringify(name.slice(0, 100))} twice in one object: names must be unique, so that every reader reads the same value (I-JSON, RFC 7493 §2.3).`,
          )
        }
        names[names.length - 1] = name
      },
      onLiteralValue: (value: unknown, offset, length, _line, _column, path) => {
        if (typeof value === 'string') checkText(value, () => toPointer(path()), 'a string')
        else if (typeof value === 'number')
          checkNumber(value, text.slice(offset, offset + length), () => toPointer(path()))
        add(value)
      },
      onError: (error: ParseErrorCode, offset) => {
        throw new StrictJsonError(
          'syntax',
          '',
          `is not JSON (RFC 8259): ${printParseErrorCode(error)} at character ${offset}.`,
        )
      },
    },
    { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false },
  )
  if (!hasRoot) throw new StrictJsonError('syntax', '', 'is not JSON (RFC 8259): no value.')
  return root
}

/** {@link parseStrictJsonText} of UTF-8 bytes; bytes that are not UTF-8 are refused (RFC 7493 §2.1). */
export function parseStrictJson(bytes: Uint8Array, options: StrictJsonOptions = {}): unknown {
  let text: string
  try {
    text = UTF8.decode(bytes)
  } catch {
    throw new StrictJsonError('encoding', '', 'is not UTF-8 (I-JSON, RFC 7493 §2.1).')
  }
  return parseStrictJsonText(text, options)
}
