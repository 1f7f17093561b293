import { randomBytes } from 'node:crypto'
import type { Job } from 'bullmq'
import type { FastifyInstance } from 'fastify'
import { sql } from 'kysely'
import pino from 'pino'
import t from 'tap'
import { createDb } from '../../src/db/create-db.js'
import { maintenanceProcessor } from '../../src/jobs/maintenance.js'
import { type CompactionRun, compactErasedPayloads } from '../../src/modules/retention/compaction.service.js'
import { runRetention } from '../../src/modules/retention/retention.service.js'
import { encryptSensitive, signAcknowledgement, signReferral } from '../../src/sdk/documents.js'
import { addAgency, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { encodedWithin, needlesOf, relationFiles, whereFound } from '../helpers/disk-scan.js'
import { acknowledgement } from '../helpers/lifecycle.js'
import { adminClient } from '../helpers/postgres.js'
import { referralDocument } from '../helpers/referrals.js'

type Json = Record<string, any>
const DAY = 86_400_000

/**
 * A referral with everything erasure must remove: its JWS, the JWE inside, a linkage token, acks.
 * The hub's receipts stay (they are the skeleton), and name the same ids as the documents.
 */
interface Planted {
  id: string
  jws: string
  jwe: string
  token: string
  acks: string[]
  receipts: string[]
}

async function plant(
  ro: TestAgency,
  de: TestAgency,
  options: { large: boolean; acks: ('received' | 'accepted' | 'declined' | 'closed')[] },
): Promise<Planted> {
  // A large JWE makes the JWS go to the TOAST table (out of line), a small one stays in the heap.
  const details = { note: 'fictional', narrative: options.large ? 'x'.repeat(4_000) : 'short' }
  const jwe = await encryptSensitive(details, de.keys.publicJwks.keys.find((k) => k.use === 'enc')! as never)
  const token = randomBytes(32).toString('base64url')
  const base = referralDocument(ro, { agencyId: de.id })
  const document = { ...base, sensitive: jwe, victim: { ...base.victim, linkageToken: token } }
  const jws = await signReferral(document, ro.keys.signing)
  const submitted = await ro.client.request<Json>('POST', '/v1/referrals', { jws })
  const receipts: string[] = [submitted['receipt']]
  const acks: string[] = []
  for (const type of options.acks) {
    const ack = await signAcknowledgement(
      acknowledgement(document.id, type, { note: 'fictional' }),
      de.keys.signing,
    )
    const answer = await de.client.request<Json>('POST', `/v1/referrals/${document.id}/acknowledgements`, {
      jws: ack,
    })
    acks.push(ack)
    receipts.push(answer['receipt'])
  }
  return { id: document.id, jws, jwe, token, acks, receipts }
}

const CATEGORIES = ['referral JWS', 'JWE', 'linkage token', 'acknowledgement JWS'] as const
type Category = (typeof CATEGORIES)[number]

/** Each secret of the referrals, by category, as the needles that find it on disk. */
function secretsOf(referrals: Planted[], everyString: string[]) {
  const secrets: { category: Category; needles: string[] }[] = []
  for (const r of referrals) {
    secrets.push({ category: 'referral JWS', needles: needlesOf(r.jws, everyString) })
    secrets.push({ category: 'JWE', needles: needlesOf(encodedWithin(r.jws, r.jwe), everyString) })
    secrets.push({ category: 'linkage token', needles: [r.token] })
    for (const ack of r.acks)
      secrets.push({ category: 'acknowledgement JWS', needles: needlesOf(ack, everyString) })
  }
  for (const secret of secrets) {
    if (secret.needles.length === 0) throw new Error(`a ${secret.category} has no needle of its own`)
  }
  return secrets
}

/** How many of the secrets of each category some table or index file holds, and where. */
async function scan(app: FastifyInstance, secrets: ReturnType<typeof secretsOf>) {
  await sql`checkpoint`.execute(app.db)
  const files = await relationFiles(app.db, app.config.databaseSchema!)
  const counts = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>
  const where = new Set<string>()
  for (const secret of secrets) {
    const found = whereFound(files, secret.needles)
    if (found.length > 0) counts[secret.category] += 1
    for (const name of found) where.add(name)
  }
  const total = Object.values(counts).reduce((a, b) => a + b, 0)
  return { counts, total, where: [...where].sort(), files: files.size }
}

/** Compacts until every due table is rewritten: another test's transaction may hold the horizon a moment. */
async function compactFully(db: FastifyInstance['db'], deadlineMs = 60_000): Promise<CompactionRun[]> {
  const runs: CompactionRun[] = []
  const deadline = Date.now() + deadlineMs
  for (;;) {
    const run = await compactErasedPayloads({ db })
    runs.push(run)
    const due = await db.selectFrom('compaction_due').select('table_name').execute()
    if (!run.busy && due.length === 0) return runs
    if (Date.now() > deadline) throw new Error(`compaction did not finish: ${JSON.stringify(runs.at(-1))}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

t.test('erased and purged payloads leave no byte in any table or index file', async (t) => {
  const { app } = await buildTestApp(t, { RETENTION_DAYS: '30' })
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', kind: 'national_agency' })
  const operator = await addAgency(app, { country: 'BE', kind: 'hub_operator' })

  const bySender = await plant(ro, de, { large: true, acks: ['received'] })
  const byOperator = await plant(ro, de, { large: false, acks: ['received', 'accepted'] })
  const purgedClosed = await plant(ro, de, { large: true, acks: ['received', 'accepted', 'closed'] })
  const purgedDeclined = await plant(ro, de, { large: false, acks: ['received', 'declined'] })
  const keptOpen = await plant(ro, de, { large: true, acks: ['received', 'accepted'] })
  const keptRecent = await plant(ro, de, { large: false, acks: ['received', 'accepted', 'closed'] })
  const erased = [bySender, byOperator, purgedClosed, purgedDeclined]
  const kept = [keptOpen, keptRecent]
  const everyString = [...erased, ...kept].flatMap((r) => [r.jws, r.token, ...r.acks, ...r.receipts])
  const erasedSecrets = secretsOf(erased, everyString)
  const keptSecrets = secretsOf(kept, everyString)

  // Inbox reads and deliveries join the payloads: read them all once, as agencies would.
  await de.client.request('GET', '/v1/inbox?limit=100')
  await ro.client.request('GET', '/v1/inbox?limit=100')
  // Sanity: before anything is erased, the scan finds every secret.
  const before = await scan(app, [...erasedSecrets, ...keptSecrets])
  t.equal(
    before.total,
    erasedSecrets.length + keptSecrets.length,
    'the scan finds every secret while it is live',
  )

  await ro.client.request('POST', `/v1/referrals/${bySender.id}/erasure`, { reason: 'data_subject_request' })
  await operator.client.request('POST', `/v1/referrals/${byOperator.id}/erasure`, {
    reason: 'consent_withdrawn',
  })
  await app.db
    .updateTable('referrals')
    .set({ terminal_at: new Date(Date.now() - 31 * DAY) })
    .where('id', 'in', [purgedClosed.id, purgedDeclined.id])
    .execute()
  const retention = await runRetention({ db: app.db, config: app.config, now: () => new Date() })
  t.equal(retention.purged, 2, 'retention purges the two old terminal referrals')
  // What ANALYZE samples goes to pg_statistic, which the scan reads too.
  for (const table of ['referral_payloads', 'acknowledgement_payloads', 'linkage_tokens', 'referrals']) {
    await sql`analyze ${sql.table(table)}`.execute(app.db)
  }

  const deleted = await scan(app, erasedSecrets)
  t.comment(`erased, not compacted yet: ${JSON.stringify(deleted.counts)} in ${deleted.where.join(', ')}`)
  t.ok(deleted.total > 0, 'deleting alone leaves erased bytes in the files (the scan sees them)')
  t.ok(
    deleted.where.every((name) => /^(referral_payloads|acknowledgement_payloads|linkage_tokens)/.test(name)),
    `only payload tables, their indexes and TOAST hold them, never a hot table: ${deleted.where.join(', ')}`,
  )

  const runs = await compactFully(app.db)
  const compacted = runs.flatMap((run) => run.tables.filter((table) => table.outcome === 'compacted'))
  t.same(
    compacted.map((table) => table.table).sort(),
    ['acknowledgement_payloads', 'linkage_tokens', 'referral_payloads'],
    'each payload table is rewritten once',
  )
  t.same(
    Object.fromEntries(compacted.map((table) => [table.table, table.erasures])),
    { referral_payloads: 4, linkage_tokens: 4, acknowledgement_payloads: 8 },
    'one rewrite covers every erasure of the table',
  )

  const after = await scan(app, erasedSecrets)
  t.comment(`after compaction: ${JSON.stringify(after.counts)} in ${after.files} relation files`)
  t.same(after.counts, { 'referral JWS': 0, JWE: 0, 'linkage token': 0, 'acknowledgement JWS': 0 }, '0 found')
  t.same(after.where, [])
  const live = await scan(app, keptSecrets)
  t.equal(live.total, keptSecrets.length, 'what was not erased is still there, and the scan still reads it')
  for (const r of kept) {
    const view = await de.client.request<Json>('GET', `/v1/referrals/${r.id}`)
    t.equal(view['jws'], r.jws, 'a kept referral reads as before, byte for byte')
    t.same(
      view['acknowledgements'].map((a: Json) => a['jws']),
      r.acks,
    )
  }
  const events = await app.db
    .selectFrom('audit_events')
    .select(['actor', 'target_id', 'details'])
    .where('action', '=', 'payloads.compacted')
    .execute()
  t.same(
    events.map((e) => e.target_id).sort(),
    compacted.map((c) => c.table).sort(),
    'every rewrite is audited',
  )
  t.ok(events.every((e) => e.actor === 'system'))
  t.same((await compactErasedPayloads({ db: app.db })).tables, [], 'a second run finds nothing to do')
})

t.test('a snapshot older than an erasure holds the rewrite back until it ends', async (t) => {
  const { app } = await buildTestApp(t)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', kind: 'national_agency' })
  const planted = await plant(ro, de, { large: true, acks: ['received'] })
  const other = await plant(ro, de, { large: false, acks: [] })
  const secrets = secretsOf(
    [planted],
    [planted, other].flatMap((r) => [r.jws, r.token, ...r.acks, ...r.receipts]),
  )

  // A reader that took its snapshot before the erasure (a report, a pg_dump) and touches no payload table.
  const reader = await adminClient(t)
  await reader.query('begin isolation level repeatable read')
  await reader.query('select count(*) from pg_class')
  await ro.client.request('POST', `/v1/referrals/${planted.id}/erasure`, { reason: 'entered_in_error' })

  const held = await compactErasedPayloads({ db: app.db })
  t.same(
    held.tables.map((table) => [table.table, table.outcome]),
    [
      ['acknowledgement_payloads', 'held'],
      ['linkage_tokens', 'held'],
      ['referral_payloads', 'held'],
    ],
    'no table is rewritten while the old snapshot exists (the rewrite would copy the erased rows along)',
  )
  t.ok((await scan(app, secrets)).total > 0, 'the erased bytes are still there')
  t.equal((await app.db.selectFrom('compaction_due').selectAll().execute()).length, 3, 'still due')

  await reader.query('commit')
  await compactFully(app.db)
  t.same((await scan(app, secrets)).counts, {
    'referral JWS': 0,
    JWE: 0,
    'linkage token': 0,
    'acknowledgement JWS': 0,
  })
})

t.test('the application role compacts through the owner function and nothing else', async (t) => {
  const { app, config } = await buildTestApp(t)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', kind: 'national_agency' })
  const planted = await plant(ro, de, { large: false, acks: ['received'] })
  await ro.client.request('POST', `/v1/referrals/${planted.id}/erasure`, { reason: 'other' })

  // The worker's sessions in production: trm_app, which owns no table.
  const options = encodeURIComponent(`-c search_path=${config.databaseSchema} -c role=trm_app`)
  const { db } = createDb({
    databaseUrl: `${config.databaseUrl}?options=${options}`,
    databaseSchema: undefined,
    databasePoolMax: 2,
  })
  t.teardown(() => db.destroy())
  const refused = async (statement: string) => {
    try {
      await db.transaction().execute((trx) => sql.raw(statement).execute(trx))
    } catch (error) {
      return (error as { code?: string }).code
    }
    return undefined
  }
  t.equal(
    await refused('cluster referral_payloads using referral_payloads_pkey'),
    '42501',
    'trm_app may not rewrite a table itself',
  )
  t.equal(
    await refused(`select trm_compact_payloads('audit_events')`),
    '22023',
    'the function rewrites payload tables only',
  )
  const runs = await compactFully(db as never)
  t.same(
    runs
      .flatMap((run) =>
        run.tables.filter((table) => table.outcome === 'compacted').map((table) => table.table),
      )
      .sort(),
    ['acknowledgement_payloads', 'linkage_tokens', 'referral_payloads'],
    'trm_app compacts every due payload table',
  )
  const secrets = secretsOf([planted], [planted.jws, planted.token, ...planted.acks, ...planted.receipts])
  t.equal((await scan(app, secrets)).total, 0)
})

t.test('one compaction at a time per schema', async (t) => {
  const { app } = await buildTestApp(t)
  const holder = await adminClient(t)
  await holder.query(`set search_path = ${app.config.databaseSchema}`)
  await holder.query(
    `select pg_advisory_lock(hashtextextended('trm-payload-compaction:' || current_schema(), 0))`,
  )
  t.same(await compactErasedPayloads({ db: app.db }), { busy: true, tables: [] })
  await holder.query(`select pg_advisory_unlock_all()`)
  t.same(await compactErasedPayloads({ db: app.db }), { busy: false, tables: [] })
})

t.test(
  'the maintenance jobs: retention purges then compacts, the hourly job compacts erasures',
  async (t) => {
    const { app } = await buildTestApp(t, { RETENTION_DAYS: '30' })
    const ro = await addAgency(app, { country: 'RO' })
    const de = await addAgency(app, { country: 'DE', kind: 'national_agency' })
    const closed = await plant(ro, de, { large: false, acks: ['received', 'accepted', 'closed'] })
    const erased = await plant(ro, de, { large: false, acks: [] })
    await app.db
      .updateTable('referrals')
      .set({ terminal_at: new Date(Date.now() - 31 * DAY) })
      .where('id', '=', closed.id)
      .execute()
    const run = maintenanceProcessor({
      config: app.config,
      db: app.db,
      hubKeys: app.hubKeys,
      log: pino({ level: 'silent' }),
    })
    const job = (name: string) => ({ name }) as Job
    const deadline = Date.now() + 60_000
    // Runs the job until nothing is due (another test's transaction may hold the horizon a moment).
    const until = async (name: string) => {
      const results: { purged?: number; compaction: CompactionRun }[] = []
      for (;;) {
        results.push((await run(job(name))) as (typeof results)[number])
        const due = await app.db.selectFrom('compaction_due').select('table_name').execute()
        if (due.length === 0) return results
        if (Date.now() > deadline) throw new Error(`${name}: still due ${JSON.stringify(due)}`)
      }
    }
    const retention = await until('retention')
    t.equal(
      retention.reduce((sum, result) => sum + (result.purged ?? 0), 0),
      1,
      'retention purged the old closed referral',
    )
    await ro.client.request('POST', `/v1/referrals/${erased.id}/erasure`, { reason: 'other' })
    t.ok(
      (await app.db.selectFrom('compaction_due').select('table_name').execute()).length > 0,
      'due after erasure',
    )
    await until('compaction')
    const secrets = secretsOf(
      [closed, erased],
      [closed, erased].flatMap((r) => [r.jws, r.token, ...r.acks, ...r.receipts]),
    )
    t.equal((await scan(app, secrets)).total, 0, 'both gone from the files')
    await t.rejects(run(job('vacuum')), /unknown maintenance job vacuum/)
  },
)
