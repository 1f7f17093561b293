/**
 * A value read from a text column, checked against the values its schema allows: the view then has
 * the schema's type, and a value the schema does not know fails here instead of in the response.
 */
export function oneOf<const T extends string>(allowed: readonly T[], value: string): T {
  if (!(allowed as readonly string[]).includes(value))
    throw new Error(`unexpected value ${JSON.stringify(value)}`)
  return value as T
}

/** {@link oneOf} for a nullable column. */
export function oneOfOrNull<const T extends string>(allowed: readonly T[], value: string | null): T | null {
  return value === null ? null : oneOf(allowed, value)
}
