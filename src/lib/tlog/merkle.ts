import * as crypto from 'node:crypto'

// The Merkle tree of RFC 9162 §2.1 (Certificate Transparency v2, the same tree as RFC 6962, the Go
// checksum database and Sigstore's Rekor): hashes, proof shapes and proof verification.

/** A SHA-256 hash, 32 bytes. */
export type Hash = Uint8Array

/** A complete subtree: the 2^level leaves starting at index << level (level 0 = a leaf hash). */
export interface NodeId {
  level: number
  index: number
}

/** SHA-256 of one buffer: crypto.hash, one call into OpenSSL, where Node has it (20.12 on). */
const digest: (data: Uint8Array) => Hash =
  typeof crypto.hash === 'function'
    ? (data) => {
        const out = crypto.hash('sha256', data, 'buffer')
        return new Uint8Array(out.buffer, out.byteOffset, 32)
      }
    : (data) => new Uint8Array(crypto.createHash('sha256').update(data).digest())

const sha256 = (...parts: Uint8Array[]): Hash => digest(Buffer.concat(parts))

/** The hash of a leaf: SHA-256(0x00 ‖ leaf) (RFC 9162 §2.1.1). */
export function leafHash(leaf: Uint8Array): Hash {
  return sha256(Uint8Array.of(0x00), leaf)
}

/** 0x01 ‖ left ‖ right, filled and hashed in one synchronous call: no buffer per node to collect. */
const NODE_INPUT = Uint8Array.of(0x01, ...new Uint8Array(64))

/** The hash of an interior node: SHA-256(0x01 ‖ left ‖ right) (RFC 9162 §2.1.1). */
export function nodeHash(left: Hash, right: Hash): Hash {
  NODE_INPUT.set(left, 1)
  NODE_INPUT.set(right, 33)
  return digest(NODE_INPUT)
}

/** The largest power of two smaller than n (n > 1): where RFC 9162 splits a tree of n leaves. */
function split(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/** The Merkle tree hash (MTH) of leaf hashes; the empty tree's hash is SHA-256 of nothing. */
export function rootOf(leafHashes: readonly Hash[]): Hash {
  if (leafHashes.length === 0) return sha256()
  return mth(leafHashes, 0, leafHashes.length)
}

function mth(leaves: readonly Hash[], start: number, end: number): Hash {
  if (end - start === 1) return leaves[start] as Hash
  const k = split(end - start)
  return nodeHash(mth(leaves, start, start + k), mth(leaves, start + k, end))
}

/**
 * The leaves [start, end) as complete subtrees, left to right, each as large as its alignment allows.
 * For the ranges of a proof (whose start is aligned to the largest power of two below their size)
 * these are the subtrees of the range's own MTH, and foldRange of their hashes is that MTH.
 */
export function rangeOf(start: number, end: number): NodeId[] {
  const nodes: NodeId[] = []
  let at = start
  while (at < end) {
    let level = 0
    while (at % 2 ** (level + 1) === 0 && at + 2 ** (level + 1) <= end) level++
    nodes.push({ level, index: at / 2 ** level })
    at += 2 ** level
  }
  return nodes
}

/** The MTH of a range from the hashes of its complete subtrees: nodeHash(h0, nodeHash(h1, …)). */
export function foldRange(hashes: readonly Hash[]): Hash {
  if (hashes.length === 0) throw new RangeError('a range has at least one subtree')
  let hash = hashes[hashes.length - 1] as Hash
  for (let i = hashes.length - 2; i >= 0; i--) hash = nodeHash(hashes[i] as Hash, hash)
  return hash
}

function assertSize(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min)
    throw new RangeError(`${name} must be a whole number from ${min}`)
}

/**
 * The ranges whose MTHs make the inclusion proof of leaf `index` in a tree of `size` leaves, in proof
 * order (nearest the leaf first): PATH(m, D[n]) of RFC 9162 §2.1.3.1.
 */
export function inclusionProofRanges(index: number, size: number): NodeId[][] {
  assertSize('size', size, 1)
  assertSize('index', index, 0)
  if (index >= size) throw new RangeError('index must be below size')
  const ranges: NodeId[][] = []
  const path = (m: number, start: number, end: number): void => {
    if (end - start === 1) return
    const k = split(end - start)
    if (m < k) {
      path(m, start, start + k)
      ranges.push(rangeOf(start + k, end))
    } else {
      path(m - k, start + k, end)
      ranges.push(rangeOf(start, start + k))
    }
  }
  path(index, 0, size)
  return ranges
}

/**
 * The ranges whose MTHs make the consistency proof from a tree of `from` leaves to one of `to` leaves,
 * in proof order: PROOF(m, D[n]) of RFC 9162 §2.1.4.1 (empty when from = to).
 */
export function consistencyProofRanges(from: number, to: number): NodeId[][] {
  assertSize('from', from, 1)
  assertSize('to', to, from)
  const ranges: NodeId[][] = []
  const subproof = (m: number, start: number, end: number, whole: boolean): void => {
    if (m === end - start) {
      if (!whole) ranges.push(rangeOf(start, end))
      return
    }
    const k = split(end - start)
    if (m <= k) {
      subproof(m, start, start + k, whole)
      ranges.push(rangeOf(start + k, end))
    } else {
      subproof(m - k, start + k, end, false)
      ranges.push(rangeOf(start, start + k))
    }
  }
  subproof(from, 0, to, true)
  return ranges
}

function hashOfRange(range: readonly NodeId[], leafHashes: readonly Hash[]): Hash {
  return foldRange(
    range.map(({ level, index }) => mth(leafHashes, index * 2 ** level, (index + 1) * 2 ** level)),
  )
}

/** The inclusion proof of leaf `index` in the tree of all `leafHashes` (in memory: for tests and tools). */
export function inclusionProof(index: number, leafHashes: readonly Hash[]): Hash[] {
  return inclusionProofRanges(index, leafHashes.length).map((range) => hashOfRange(range, leafHashes))
}

/** The consistency proof from the first `from` leaves to all `leafHashes` (in memory). */
export function consistencyProof(from: number, leafHashes: readonly Hash[]): Hash[] {
  return consistencyProofRanges(from, leafHashes.length).map((range) => hashOfRange(range, leafHashes))
}

/** Constant-time is not needed here (everything compared is public); equal length and bytes. */
export function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

const isSize = (n: number, min: number): boolean => Number.isSafeInteger(n) && n >= min
const isPowerOfTwo = (n: number): boolean => n > 0 && 2 ** Math.round(Math.log2(n)) === n

/**
 * The root that an inclusion proof leads to (RFC 9162 §2.1.3.2), or undefined when the proof has the
 * wrong length for (index, size).
 */
export function rootFromInclusion(
  leaf: Hash,
  index: number,
  size: number,
  proof: readonly Hash[],
): Hash | undefined {
  if (!isSize(size, 1) || !isSize(index, 0) || index >= size) return undefined
  let fn = index
  let sn = size - 1
  let r = leaf
  for (const p of proof) {
    if (sn === 0) return undefined
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 ? r : undefined
}

/** Whether `proof` shows the leaf hash at `index` in the tree of `size` leaves whose root is `root`. */
export function verifyInclusion(
  leaf: Hash,
  index: number,
  size: number,
  proof: readonly Hash[],
  root: Hash,
): boolean {
  const computed = rootFromInclusion(leaf, index, size, proof)
  return computed !== undefined && sameHash(computed, root)
}

/**
 * Whether `proof` shows that the tree of `to` leaves with root `toRoot` extends the tree of `from`
 * leaves with root `fromRoot` (RFC 9162 §2.1.4.2; from = to needs an empty proof and equal roots).
 */
export function verifyConsistency(
  from: number,
  to: number,
  proof: readonly Hash[],
  fromRoot: Hash,
  toRoot: Hash,
): boolean {
  if (!isSize(from, 1) || !isSize(to, from)) return false
  if (from === to) return proof.length === 0 && sameHash(fromRoot, toRoot)
  if (proof.length === 0) return false
  const path = isPowerOfTwo(from) ? [fromRoot, ...proof] : [...proof]
  let fn = from - 1
  let sn = to - 1
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  let fr = path[0] as Hash
  let sr = path[0] as Hash
  for (const c of path.slice(1)) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
      }
    } else {
      sr = nodeHash(sr, c)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && sameHash(fr, fromRoot) && sameHash(sr, toRoot)
}
