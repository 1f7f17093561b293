import { createHmac } from 'node:crypto'

export interface LinkageAttributes {
  givenName: string
  familyName: string
  /** ISO 8601 date, YYYY-MM-DD */
  dateOfBirth: string
  sex: string
}

/** The normalisation every member applies before hashing: NFKD, diacritics and case folded, whitespace collapsed. */
export function normaliseLinkageText(value: string): string {
  return value
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLocaleLowerCase('und')
    .replace(/\s+/gu, ' ')
    .trim()
}

/**
 * The linkage token: HMAC-SHA-256, keyed with the network key shared among member agencies (never
 * with the hub), over `given|family|YYYY-MM-DD|sex` after normalisation; base64url. Two agencies
 * that met the same person compute the same token; the hub sees only the token.
 */
export function computeLinkageToken(attributes: LinkageAttributes, networkKey: Uint8Array | string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(attributes.dateOfBirth)) throw new Error('dateOfBirth must be YYYY-MM-DD')
  const message = [
    normaliseLinkageText(attributes.givenName),
    normaliseLinkageText(attributes.familyName),
    attributes.dateOfBirth,
    normaliseLinkageText(attributes.sex),
  ].join('|')
  return createHmac('sha256', networkKey).update(message, 'utf8').digest('base64url')
}
