import { TlogFormatError } from './note.js'

// C2SP tlog-tiles (https://c2sp.org/tlog-tiles): the tree served as immutable tiles of hashes.

/** Hashes per full tile (and leaves per tile at level 0). */
export const TILE_WIDTH = 256

/** A tile index as path elements of three digits, all but the last prefixed with "x": 1234067 → x001/x234/067. */
function encodeIndex(index: number): string {
  const digits = String(index)
  const padded = digits.padStart(Math.ceil(digits.length / 3) * 3, '0')
  const groups = padded.match(/.{3}/g) ?? ['000']
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/')
}

/**
 * The path of a tile: "tile/<L>/<N>" for a full tile, "tile/<L>/<N>.p/<W>" for a partial one of W
 * hashes. Level -1 is not a hash tile; entry bundles ("tile/entries/…") are not served by the hub.
 */
export function tilePath(level: number, index: number, width: number = TILE_WIDTH): string {
  if (!Number.isSafeInteger(level) || level < 0 || level > 63) throw new TlogFormatError('bad tile level')
  if (!Number.isSafeInteger(index) || index < 0) throw new TlogFormatError('bad tile index')
  if (!Number.isSafeInteger(width) || width < 1 || width > TILE_WIDTH)
    throw new TlogFormatError('bad tile width')
  const base = `tile/${level}/${encodeIndex(index)}`
  return width === TILE_WIDTH ? base : `${base}.p/${width}`
}

/** Parses a tile path (only its canonical spelling, so that one tile has one path). */
export function parseTilePath(path: string): { level: number; index: number; width: number } {
  const match = /^tile\/(0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*[0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/.exec(path)
  if (!match) throw new TlogFormatError(`not a tile path: ${path}`)
  const level = Number(match[1])
  const index = Number((match[2] ?? '').replaceAll('x', '').replaceAll('/', ''))
  const width = match[3] === undefined ? TILE_WIDTH : Number(match[3])
  if (!Number.isSafeInteger(index) || level > 63 || tilePath(level, index, width) !== path) {
    throw new TlogFormatError(`not a canonical tile path: ${path}`)
  }
  return { level, index, width }
}
