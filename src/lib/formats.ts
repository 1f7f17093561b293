import ajvFormats from 'ajv-formats'
import Format from 'typebox/format'

/**
 * The string formats the hub's schemas use, registered with TypeBox. They are held to what the hub
 * can store and read back: Postgres refuses year 0 and zone offsets past ±15:59, JavaScript cannot
 * read a leap second, and Postgres' uuid type does not take the `urn:uuid:` form that JSON Schema's
 * uuid allows. So a value the schema lets through never fails later as a 500.
 */

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
/** Real zone offsets run from -12:00 to +14:00. */
const MAX_OFFSET_MINUTES = 14 * 60

const daysIn = (year: number, month: number) =>
  month === 2
    ? year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
      ? 29
      : 28
    : [4, 6, 9, 11].includes(month)
      ? 30
      : 31

function isCalendarDate(year: number, month: number, day: number): boolean {
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= daysIn(year, month)
}

/** `YYYY-MM-DD`, years 0001–9999, a day that exists. */
export function isHubDate(value: string): boolean {
  const m = DATE.exec(value)
  return m !== null && isCalendarDate(Number(m[1]), Number(m[2]), Number(m[3]))
}

/**
 * RFC 3339 `date-time` (§5.6) within years 0001–9999, seconds 00–59 (no leap second) and a zone
 * offset of at most ±14:00; lowercase `t` and `z` are allowed as RFC 3339 allows them.
 */
export function isHubDateTime(value: string): boolean {
  const m = DATE_TIME.exec(value)
  if (!m || !isCalendarDate(Number(m[1]), Number(m[2]), Number(m[3]))) return false
  if (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 59) return false
  if (m[7] === undefined) return true
  const offsetHours = Number(m[8])
  const offsetMinutes = Number(m[9])
  return offsetMinutes <= 59 && offsetHours * 60 + offsetMinutes <= MAX_OFFSET_MINUTES
}

/** A UUID in its hyphenated hex form only. */
export const isHubUuid = (value: string): boolean => UUID.test(value)

/** Registers the formats above, and JSON Schema's `uri` as Ajv checks it, with TypeBox. Idempotent. */
export function registerHubFormats(): void {
  Format.Set('date', isHubDate)
  Format.Set('date-time', isHubDateTime)
  Format.Set('uuid', isHubUuid)
  const uri = ajvFormats.default.get('uri') as ((value: string) => boolean) | RegExp
  Format.Set('uri', (value) => (uri instanceof RegExp ? uri.test(value) : uri(value)))
}
