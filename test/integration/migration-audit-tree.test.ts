import { createHash } from 'node:crypto'
import { sql } from 'kysely'
import t from 'tap'
import { loadHubKeys } from '../../src/lib/hub-keys.js'
import { type ChainedEvent, canonicalEvent } from '../../src/modules/audit/audit.core.js'
import { sealPending } from '../../src/modules/audit/audit.service.js'
import { leafOf } from '../../src/modules/audit/audit.tree.js'
import { verifyAuditChain } from '../../src/modules/audit/audit.verify.js'
import { migratedUpTo } from '../helpers/migrations.js'

const BEFORE = '2026-12-03-10-stats-releases'
const MIGRATION = '2026-12-04-12-audit-tree'

// The hash chain of earlier releases, as their sealer wrote it: hash(n) = hex SHA-256(prevHash ‖ JCS(event)).
const GENESIS_HASH = '0'.repeat(64)
const chainHash = (prevHash: string, event: ChainedEvent) =>
  createHash('sha256')
    .update(prevHash + canonicalEvent(event), 'utf8')
    .digest('hex')

t.test(
  'the migration makes the chained events the first leaves; the sealer signs them and goes on',
  async (t) => {
    const { config, db, migrator } = await migratedUpTo(t, BEFORE)

    // 300 events as the old sealer left them (seq, prev_hash, hash), then 5 it had not sealed yet.
    let prevHash = GENESIS_HASH
    const at = '2026-12-01T10:00:00.123456Z'
    for (let seq = 1; seq <= 300; seq += 1) {
      const event = {
        seq,
        at,
        actor: 'system',
        action: 'test.old',
        target: { type: 'test', id: String(seq) },
        referralId: null,
        requestId: `request-${seq}`,
        outcome: 'success',
        details: { n: seq, note: 'ü' },
      }
      const hash = chainHash(prevHash, event)
      await sql`insert into audit_events (seq, at, actor, action, target_type, target_id, request_id, outcome, details, prev_hash, hash)
      values (${seq}, ${at}, 'system', 'test.old', 'test', ${String(seq)}, ${`request-${seq}`}, 'success',
        ${JSON.stringify(event.details)}::jsonb, ${prevHash}, ${hash})`.execute(db)
      prevHash = hash
    }
    for (let n = 1; n <= 5; n += 1) {
      await sql`insert into audit_events (actor, action, target_type, target_id, outcome)
      values ('system', 'test.unsealed', 'test', ${String(n)}, 'success')`.execute(db)
    }

    const up = await migrator.migrateTo(MIGRATION)
    if (up.error) throw up.error
    const leaves = await db
      .selectFrom('audit_leaves')
      .innerJoin('audit_events', 'audit_events.id', 'audit_leaves.event_id')
      .select(['audit_leaves.index', 'audit_leaves.hash', 'audit_events.seq', 'audit_events.target_id'])
      .orderBy('audit_leaves.index')
      .execute()
    t.equal(leaves.length, 300, 'every chained event is a leaf, the unsealed ones not yet')
    t.ok(
      leaves.every((l) => l.index === l.seq! - 1),
      'leaf index = seq − 1',
    )
    t.same(
      Buffer.from(leaves[41]!.hash),
      Buffer.from(
        leafOf({
          seq: 42,
          at,
          actor: 'system',
          action: 'test.old',
          target: { type: 'test', id: '42' },
          referralId: null,
          requestId: 'request-42',
          outcome: 'success',
          details: { n: 42, note: 'ü' },
        }),
      ),
      'the leaf hash is over the same canonical bytes the chain hashed',
    )

    const hubKeys = await loadHubKeys(config.hubKeys)
    t.equal(
      await sealPending({ db, hubKeys, origin: 'hub.test/audit' }),
      5,
      'the sealer adds the unsealed ones',
    )
    const checkpoints = await db.selectFrom('audit_tree_checkpoints').select('size').execute()
    t.same(checkpoints, [{ size: 305 }], 'and signs one checkpoint over all of them')
    const tiles = await db.selectFrom('audit_tiles').select(['level', 'index']).execute()
    t.same(tiles, [{ level: 0, index: 0 }], 'with the full tile of the old leaves')
    t.match(await verifyAuditChain(db, hubKeys.verificationKeys), {
      intact: true,
      events: 305,
      checkpoints: 1,
    })

    const { rows } = await sql<{ n: number }>`select count(*)::int as n from audit_events
    where seq is null and action = 'test.unsealed'`.execute(db)
    t.equal(rows[0]!.n, 5, 'no event was updated: the new leaves keep seq null')
  },
)
