import t from 'tap'
import {
  consistencyProof,
  consistencyProofRanges,
  foldRange,
  type Hash,
  inclusionProof,
  inclusionProofRanges,
  leafHash,
  type NodeId,
  rangeOf,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from '../../src/lib/tlog/index.js'

const hex = (h: Uint8Array): string => Buffer.from(h).toString('hex')
const unhex = (s: string): Hash => new Uint8Array(Buffer.from(s, 'hex'))

/** One bit of byte `at % 32` flipped, in a copy. */
function flipped(hash: Hash, at = 0): Hash {
  const copy = Uint8Array.from(hash)
  copy[at % copy.length] = (copy[at % copy.length] ?? 0) ^ 0x01
  return copy
}

const leaves: Hash[] = Array.from({ length: 300 }, (_, i) =>
  leafHash(new TextEncoder().encode(`fake event ${i}`)),
)

/** Subtree hashes by NodeId, shared by every tree size (a complete subtree never changes). */
const nodes = new Map<string, Hash>()
function node({ level, index }: NodeId): Hash {
  const key = `${level}/${index}`
  let hash = nodes.get(key)
  if (!hash) {
    hash = rootOf(leaves.slice(index * 2 ** level, (index + 1) * 2 ** level))
    nodes.set(key, hash)
  }
  return hash
}
const fromRanges = (ranges: NodeId[][]): Hash[] => ranges.map((range) => foldRange(range.map(node)))
const roots: Hash[] = [rootOf([])]
for (let size = 1; size <= leaves.length; size++) roots.push(rootOf(leaves.slice(0, size)))

t.test('RFC 6962 / certificate-transparency-go reference vectors (8-leaf tree)', async (t) => {
  const data = [
    '',
    '00',
    '10',
    '2021',
    '3031',
    '40414243',
    '5051525354555657',
    '606162636465666768696a6b6c6d6e6f',
  ]
  const vectorLeaves = data.map((d) => leafHash(unhex(d)))
  const expectedRoots = [
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
    '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
    'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
    '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
  ]
  t.equal(hex(rootOf([])), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'empty tree')
  for (let size = 1; size <= 8; size++) {
    t.equal(hex(rootOf(vectorLeaves.slice(0, size))), expectedRoots[size - 1], `root of ${size}`)
  }
  const root = (size: number): Hash => unhex(expectedRoots[size - 1] ?? '')
  const inclusion: [number, number, string[]][] = [
    [0, 1, []],
    [0, 2, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7']],
    [1, 2, ['6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d']],
    [2, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
    [
      1,
      5,
      [
        '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
        '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
        'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      ],
    ],
    [
      0,
      8,
      [
        '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
        '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
        '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
      ],
    ],
    [
      5,
      8,
      [
        'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
        'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
        'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      ],
    ],
  ]
  for (const [index, size, want] of inclusion) {
    const proof = inclusionProof(index, vectorLeaves.slice(0, size))
    t.same(proof.map(hex), want, `inclusion proof ${index} in ${size}`)
    t.ok(verifyInclusion(vectorLeaves[index] as Hash, index, size, want.map(unhex), root(size)))
  }
  const consistency: [number, number, string[]][] = [
    [1, 1, []],
    [
      1,
      8,
      [
        '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
        '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
        '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
      ],
    ],
    [
      6,
      8,
      [
        '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
        'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
        'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      ],
    ],
    [
      2,
      5,
      [
        '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
        'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      ],
    ],
  ]
  for (const [from, to, want] of consistency) {
    const proof = consistencyProof(from, vectorLeaves.slice(0, to))
    t.same(proof.map(hex), want, `consistency proof ${from} → ${to}`)
    t.ok(verifyConsistency(from, to, want.map(unhex), root(from), root(to)), `verifies ${from} → ${to}`)
  }
})

t.test('rangeOf splits a range into aligned complete subtrees, left to right', async (t) => {
  t.same(rangeOf(0, 8), [{ level: 3, index: 0 }])
  t.same(rangeOf(8, 13), [
    { level: 2, index: 2 },
    { level: 0, index: 12 },
  ])
  t.same(rangeOf(1, 8), [
    { level: 0, index: 1 },
    { level: 1, index: 1 },
    { level: 2, index: 1 },
  ])
  t.same(rangeOf(256, 300), [
    { level: 5, index: 8 },
    { level: 3, index: 36 },
    { level: 2, index: 74 },
  ])
})

t.test('every inclusion proof in trees of 1..300 leaves verifies; any flipped hash fails', async (t) => {
  let verified = 0
  let rejected = 0
  for (let size = 1; size <= leaves.length; size++) {
    const root = roots[size] as Hash
    for (let index = 0; index < size; index++) {
      const proof = fromRanges(inclusionProofRanges(index, size))
      const leaf = leaves[index] as Hash
      if (!verifyInclusion(leaf, index, size, proof, root)) t.fail(`inclusion ${index} in ${size}`)
      verified++
      // Every flip for trees up to 64 leaves and for the last tree; one leaf in 17 elsewhere.
      if (size > 64 && size !== leaves.length && index % 17 !== 0) continue
      const bad = [
        verifyInclusion(flipped(leaf, index), index, size, proof, root),
        verifyInclusion(leaf, index, size, proof, flipped(root, size)),
        ...proof.map((_, i) =>
          verifyInclusion(
            leaf,
            index,
            size,
            proof.map((h, j) => (j === i ? flipped(h, i + index) : h)),
            root,
          ),
        ),
        verifyInclusion(leaf, index, size, [...proof, root], root),
        verifyInclusion(leaf, index, size * 2, proof, root),
      ]
      if (proof.length > 0) bad.push(verifyInclusion(leaf, index, size, proof.slice(1), root))
      if (index + 1 < size) bad.push(verifyInclusion(leaf, index + 1, size, proof, root))
      if (bad.some(Boolean)) t.fail(`a tampered inclusion proof ${index} in ${size} verified`)
      rejected += bad.length
    }
  }
  t.equal(verified, (leaves.length * (leaves.length + 1)) / 2, 'every leaf of every tree')
  t.ok(rejected > 10_000, `${rejected} tampered proofs rejected`)
  for (const size of [1, 2, 7, 64, 100, 300]) {
    for (const index of [0, Math.floor(size / 2), size - 1]) {
      t.same(
        inclusionProof(index, leaves.slice(0, size)).map(hex),
        fromRanges(inclusionProofRanges(index, size)).map(hex),
        `in-memory proof = ranges folded (${index} in ${size})`,
      )
    }
  }
})

t.test('every consistency proof M → N verifies; any flipped hash fails', async (t) => {
  const pairs: [number, number][] = []
  for (let to = 1; to <= 64; to++) for (let from = 1; from <= to; from++) pairs.push([from, to])
  for (const to of [65, 127, 128, 129, 255, 256, 257, 299, 300]) {
    for (let from = 1; from <= to; from += from < 70 ? 1 : 7) pairs.push([from, to])
    pairs.push([to, to])
  }
  let rejected = 0
  for (const [from, to] of pairs) {
    const proof = fromRanges(consistencyProofRanges(from, to))
    const fromRoot = roots[from] as Hash
    const toRoot = roots[to] as Hash
    if (!verifyConsistency(from, to, proof, fromRoot, toRoot)) t.fail(`consistency ${from} → ${to}`)
    const bad = [
      verifyConsistency(from, to, proof, flipped(fromRoot, to), toRoot),
      verifyConsistency(from, to, proof, fromRoot, flipped(toRoot, from)),
      ...proof.map((_, i) =>
        verifyConsistency(
          from,
          to,
          proof.map((h, j) => (j === i ? flipped(h, i + from) : h)),
          fromRoot,
          toRoot,
        ),
      ),
    ]
    if (from < to) {
      bad.push(verifyConsistency(from, to, proof.slice(0, -1), fromRoot, toRoot))
      bad.push(verifyConsistency(from, to, [...proof, toRoot], fromRoot, toRoot))
      bad.push(verifyConsistency(from, to, proof, toRoot, fromRoot))
      // A fork: the same sizes, but the old tree had a different leaf.
      const forked = rootOf([flipped(leaves[0] as Hash), ...leaves.slice(1, from)])
      bad.push(verifyConsistency(from, to, proof, forked, toRoot))
    }
    if (bad.some(Boolean)) t.fail(`a tampered consistency proof ${from} → ${to} verified`)
    rejected += bad.length
  }
  t.ok(pairs.length > 2500, `${pairs.length} pairs verified`)
  t.ok(rejected > 10_000, `${rejected} tampered proofs rejected`)
  for (const [from, to] of [
    [1, 300],
    [37, 300],
    [256, 300],
    [64, 64],
  ] as const) {
    t.same(
      consistencyProof(from, leaves.slice(0, to)).map(hex),
      fromRanges(consistencyProofRanges(from, to)).map(hex),
      `in-memory proof = ranges folded (${from} → ${to})`,
    )
  }
})

t.test('bad sizes are refused, not answered', async (t) => {
  t.throws(() => inclusionProofRanges(3, 3), RangeError)
  t.throws(() => inclusionProofRanges(0, 0), RangeError)
  t.throws(() => consistencyProofRanges(0, 3), RangeError)
  t.throws(() => consistencyProofRanges(4, 3), RangeError)
  const root = roots[3] as Hash
  t.notOk(verifyInclusion(leaves[0] as Hash, 3, 3, [], root))
  t.notOk(verifyInclusion(leaves[0] as Hash, -1, 3, [], root))
  t.notOk(verifyConsistency(0, 3, [], roots[0] as Hash, root), 'from 0 is not a checkpoint')
  t.notOk(verifyConsistency(4, 3, [], root, root), 'a rollback never verifies')
  t.notOk(verifyConsistency(2, 3, [], roots[2] as Hash, root), 'an empty proof between different sizes')
})
