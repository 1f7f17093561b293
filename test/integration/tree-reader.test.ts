import t from 'tap'
import { rootOf, TILE_WIDTH, verifyConsistency, verifyInclusion } from '../../src/lib/tlog/index.js'
import { TreeReader } from '../../src/modules/audit/tree.reader.js'
import { chainRows, fillerEvents, seal } from '../helpers/audit.js'
import { buildTestApp } from '../helpers/build-app.js'

// The API keeps one TreeReader for its life: tiles hashed up once, partial tiles kept under their
// width, least recently used out first. Whatever it kept, a proof at any size must be the one a
// reader that never saw the tree before gives, and verify against that size's signed root.

t.test('a long-lived reader with room for 3 tiles gives every proof a fresh reader gives', async (t) => {
  const { app } = await buildTestApp(t)
  await fillerEvents(app, 2 * TILE_WIDTH + 40)
  await seal(app, 97)
  const leaves = await chainRows(app)
  const checkpoints = await app.db
    .selectFrom('audit_tree_checkpoints')
    .select(['size', 'root'])
    .orderBy('size')
    .execute()
  t.ok(checkpoints.length >= 6, `${checkpoints.length} checkpoints, the last at ${leaves.length} leaves`)
  t.ok(leaves.length > 2 * TILE_WIDTH, 'two full leaf tiles and a partial one')

  const kept = new TreeReader(app.db, 3)
  let proofs = 0
  for (const { size, root } of checkpoints) {
    const fresh = new TreeReader(app.db)
    t.same(await kept.root(size), root, `root at ${size}`)
    for (const leaf of leaves.slice(0, size)) {
      const proof = await kept.inclusionProof(leaf.index, size)
      t.same(proof, await new TreeReader(app.db).inclusionProof(leaf.index, size))
      if (!verifyInclusion(leaf.hash, leaf.index, size, proof, root))
        t.fail(`inclusion ${leaf.index}@${size}`)
      proofs += 1
    }
    t.same(await kept.root(size), await fresh.root(size))
    for (const older of checkpoints.filter((c) => c.size <= size)) {
      const proof = await kept.consistencyProof(older.size, size)
      t.ok(verifyConsistency(older.size, size, proof, older.root, root), `consistency ${older.size}→${size}`)
    }
  }
  t.ok(proofs > leaves.length, `${proofs} inclusion proofs verified`)

  const tip = checkpoints.at(-1)!
  const partial = await kept.entries(tip.size, 0, 2)
  t.equal(partial.length, (tip.size - 2 * TILE_WIDTH) * 32, 'the right edge: a partial leaf tile')
  t.same(
    rootOf([...Array(partial.length / 32).keys()].map((i) => partial.subarray(32 * i, 32 * i + 32))),
    rootOf(leaves.slice(2 * TILE_WIDTH, tip.size).map((l) => l.hash)),
  )
})

t.test('covers: sizes up to the latest checkpoint, the latest size read again beyond it', async (t) => {
  const { app } = await buildTestApp(t)
  await fillerEvents(app, 1)
  const reader = new TreeReader(app.db)
  await seal(app)
  const first = (await chainRows(app)).length
  t.same(await reader.covers(first), { covered: true, latest: first })
  t.same(await reader.covers(first + 1), { covered: false, latest: first })
  await fillerEvents(app, 2, 2)
  await seal(app)
  t.same(await reader.covers(first + 1), { covered: true, latest: first + 1 }, 'a new checkpoint is seen')
})
