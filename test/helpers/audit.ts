import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { type RawBuilder, sql } from 'kysely'
import type { Config } from '../../src/config.js'
import { sealPending } from '../../src/modules/audit/audit.service.js'
import { verifyAuditChain } from '../../src/modules/audit/audit.verify.js'
import { recordAuditEvent } from '../../src/modules/ledger/audit.service.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Seals what is pending, as the worker's sealer would, without a worker. */
export const seal = (app: FastifyInstance, batchSize?: number) =>
  sealPending({
    db: app.db,
    hubKeys: app.hubKeys,
    origin: app.config.auditLog.origin,
    ...(batchSize ? { batchSize } : {}),
  })

/** Records invented system events `test.filler` numbered first…last (leaves for the tree tests). */
export async function fillerEvents(app: FastifyInstance, last: number, first = 1): Promise<void> {
  for (let n = first; n <= last; n += 1) {
    await recordAuditEvent(app.db, {
      actor: 'system',
      action: 'test.filler',
      target: { type: 'test', id: String(n) },
      outcome: 'success',
      details: { n },
    })
  }
}

export const verify = (app: FastifyInstance, fromSeq?: number) =>
  verifyAuditChain(app.db, app.hubKeys.verificationKeys, fromSeq ? { fromSeq } : {})

/** The log as stored, in leaf order: each leaf with its event (seq = index + 1). */
export function chainRows(app: FastifyInstance) {
  return app.db
    .selectFrom('audit_leaves')
    .innerJoin('audit_events', 'audit_events.id', 'audit_leaves.event_id')
    .select([
      'audit_events.id',
      sql<number>`audit_leaves.index + 1`.as('seq'),
      'audit_leaves.index',
      'audit_events.actor',
      'audit_events.action',
      'audit_events.target_type',
      'audit_events.target_id',
      'audit_events.referral_id',
      'audit_leaves.hash',
    ])
    .orderBy('audit_leaves.index')
    .execute()
}

/**
 * Runs statements as the database superuser with the table's append-only trigger switched off for
 * the length of one transaction: what someone who bypasses every guard could do.
 */
export async function tamper(
  app: FastifyInstance,
  table: 'audit_events' | 'audit_leaves' | 'audit_tiles' | 'audit_tree_checkpoints',
  ...statements: RawBuilder<unknown>[]
): Promise<void> {
  const trigger = `${table}_append_only`
  await app.db.transaction().execute(async (trx) => {
    await sql`alter table ${sql.id(table)} disable trigger ${sql.id(trigger)}`.execute(trx)
    for (const statement of statements) await statement.execute(trx)
    await sql`alter table ${sql.id(table)} enable trigger ${sql.id(trigger)}`.execute(trx)
  })
}

/** The real `trm` command, run the way an operator runs it, with only the variables it needs. */
export function runTrm(
  config: Config,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    PATH: process.env['PATH'] ?? '',
    HOME: process.env['HOME'] ?? '',
    DATABASE_URL: config.databaseUrl,
    DATABASE_SCHEMA: config.databaseSchema ?? '',
    HUB_SIGNING_KEYS: config.hubKeys.json ?? '',
  }
  return new Promise((resolve) => {
    execFile(
      'npx',
      ['tsx', 'src/cli.ts', ...args],
      { cwd: ROOT, env, timeout: 180_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    )
  })
}
