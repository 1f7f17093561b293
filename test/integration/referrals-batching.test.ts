import { randomUUID } from 'node:crypto'
import { type Kysely, sql } from 'kysely'
import t from 'tap'
import { createDb } from '../../src/db/create-db.js'
import type { Database } from '../../src/db/types.js'
import { signReferral } from '../../src/sdk/documents.js'
import { addAgency, type TestAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { referralDocument, writeCounts } from '../helpers/referrals.js'

// Submissions that reach the writer while its statements are all busy wait and then share one
// statement. This test app's pool has two connections, so the writer runs one statement at a time.
// These tests hold that statement (a table lock taken from another pool stops it at its inbox
// insert), queue several submissions behind it, and check what the shared statement does.

type Document = ReturnType<typeof referralDocument>
type Tap = Pick<typeof t, 'teardown' | 'equal'>

async function until(condition: () => boolean | Promise<boolean>, what: string) {
  const deadline = Date.now() + 10_000
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/**
 * Runs `body` inside a transaction of `db` that is kept open until the returned release is called
 * (at the latest when `t` ends).
 */
async function holdTransaction(
  t: Tap,
  db: Kysely<Database>,
  body: (trx: Kysely<Database>) => Promise<unknown>,
) {
  let release!: () => void
  let held!: () => void
  const holding = new Promise<void>((resolve) => {
    held = resolve
  })
  const done = db.transaction().execute(async (trx) => {
    await body(trx)
    held()
    await new Promise<void>((resolve) => {
      release = resolve
    })
  })
  await holding
  const end = async () => {
    release()
    await done
  }
  t.teardown(end)
  return end
}

t.test('submissions that arrive together', async (t) => {
  // One statement at a time: the others wait for it and share the next.
  const { app, config } = await buildTestApp(t, { DATABASE_POOL_MAX: '2', SUBMISSION_STATEMENTS_MAX: '1' })
  // Transactions held open, and the queries that watch the app, each need a connection of their own.
  const { db: other } = createDb({ ...config, databasePoolMax: 4 }, 'trm-test-other')
  t.teardown(() => other.destroy())
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', kind: 'social_services' })
  const pushed = await addAgency(app, { country: 'AT', kind: 'ngo', push: 'https://hooks.example.test/trm' })
  await addAgency(app, { country: 'FR', kind: 'national_agency', ncp: true })
  const token = await ro.client.accessToken()
  const submit = async (document: Document, sender: TestAgency = ro) =>
    app.inject({
      method: 'POST',
      url: '/v1/referrals',
      headers: { authorization: `Bearer ${token}` },
      payload: { jws: await signReferral(document, sender.keys.signing) },
    })
  t.equal((await submit(referralDocument(ro, { agencyId: de.id }))).statusCode, 201, 'warm-up')

  /**
   * Submits `queued` while the writer's one statement is held (a first referral's, stopped at its
   * inbox insert by a table lock), so that they all wait, then lets it go. Resolves to the first
   * referral and the answers to `queued`, in order.
   */
  const submitQueued = async (t: Tap, queued: Document[]) => {
    const first = referralDocument(ro, { agencyId: de.id })
    const release = await holdTransaction(t, other, (trx) =>
      sql`lock table inbox_messages in exclusive mode`.execute(trx),
    )
    const firstAnswer = submit(first)
    await until(async () => {
      const { rows } = await sql<{ n: string }>`select count(*) as n from pg_locks
        where not granted and relation = 'inbox_messages'::regclass`.execute(other)
      return Number(rows[0]!.n) === 1
    }, 'the first statement waits on the lock')
    const answers = queued.map((document) => submit(document))
    await until(() => app.submissions.waiting === queued.length, 'all wait for the writer')
    await release()
    t.equal((await firstAnswer).statusCode, 201, 'the referral that held the writer is stored')
    return { first, answers: await Promise.all(answers) }
  }
  /** The write counts after `n` more referrals to pull recipients, each with all its rows (no outbox
   *  row: a pull recipient has no webhook job, and no referral a deadline job). */
  const grown = (before: Awaited<ReturnType<typeof writeCounts>>, n: number) => ({
    ...before,
    referrals: before.referrals + n,
    inbox: before.inbox + n,
    audit: before.audit + n,
  })

  /** The transactions the referral messages of these documents were written in, by document. */
  const transactionsOf = async (documents: Document[]) => {
    const rows = await app.db
      .selectFrom('inbox_messages')
      .select(['referral_id', 'txid'])
      .where(
        'referral_id',
        'in',
        documents.map((d) => d.id.toLowerCase()),
      )
      .where('type', '=', 'referral')
      .execute()
    return documents.map((d) => rows.filter((r) => r.referral_id === d.id.toLowerCase()).map((r) => r.txid))
  }

  t.test('share one statement, and each gets its own answer', async (t) => {
    const token = 'L'.repeat(43)
    const linked = (document: Document) => {
      document.victim = { ...document.victim, linkageToken: token }
      return document
    }
    t.equal((await submit(linked(referralDocument(ro, { agencyId: de.id })))).statusCode, 201)

    const queued = [
      linked(referralDocument(ro, { agencyId: de.id }, { urgency: 'immediate' })),
      referralDocument(ro, { agencyId: pushed.id }),
      referralDocument(ro, { country: 'FR' }),
      linked(referralDocument(ro, { agencyId: de.id }, { id: randomUUID().toUpperCase() })),
    ]
    const { first, answers: settled } = await submitQueued(t, queued)
    t.same(
      settled.map((a) => a.statusCode),
      [201, 201, 201, 201],
      'all stored, an id in upper case too',
    )
    const bodies = settled.map((a) => a.json())
    t.same(
      bodies.map((b) => b.id.toLowerCase()),
      queued.map((d) => d.id.toLowerCase()),
      'each answer is for its own document',
    )
    t.same(
      [bodies[1].possibleDuplicates, bodies[2].possibleDuplicates],
      [0, 0],
      'no linkage token, nothing linked',
    )
    t.same(
      [bodies[0].possibleDuplicates, bodies[3].possibleDuplicates].sort(),
      [1, 2],
      'the same token: the earlier referral, and the one before it in the same statement',
    )
    t.equal(bodies[1].recipient.agencyId, pushed.id)
    t.equal(new Set(bodies.map((b) => b.victimReference)).size, 4, 'a new victim reference each')

    const transactions = await transactionsOf([first, ...queued])
    t.ok(
      transactions.every((txids) => txids.length === 1),
      'one message per referral',
    )
    const shared = new Set(transactions.slice(1).flat())
    t.equal(shared.size, 1, 'the queued ones were written in one transaction')
    t.not(transactions[0]![0], [...shared][0], 'not the one that held the writer')

    const deliveries = await app.db.selectFrom('deliveries').select(['referral_id', 'message_id']).execute()
    t.same(
      deliveries.map((d) => d.referral_id),
      [queued[1]!.id],
      'only the push recipient gets a delivery',
    )
    const outboxJobs = (queue: string) =>
      app.db.selectFrom('outbox').select(['payload', 'run_at']).where('queue', '=', queue).execute()
    const webhooks = await outboxJobs('webhooks')
    t.same(
      webhooks.map((w) => [w.payload, w.run_at]),
      [[{ messageId: deliveries[0]!.message_id }, null]],
      'and its webhook job, for its message',
    )
    t.same(await outboxJobs('deadlines'), [], 'no deadline job: the deadline sweep reads ack_due_at')
    const audit = await app.db
      .selectFrom('audit_events')
      .select('referral_id')
      .where('action', '=', 'referral.submitted')
      .where(
        'referral_id',
        'in',
        queued.map((d) => d.id.toLowerCase()),
      )
      .execute()
    t.equal(audit.length, 4, 'an audit event each')

    const replay = await submit(queued[3]!)
    t.equal(replay.statusCode, 200, 'a replay finds what the shared statement stored')
    t.equal(replay.json().receipt, bodies[3].receipt)
  })

  t.test('a refusal inside a shared statement refuses only its own submission', async (t) => {
    const stored = referralDocument(ro, { agencyId: de.id })
    const storedAnswer = await submit(stored)
    t.equal(storedAnswer.statusCode, 201)
    const busy = referralDocument(ro, { agencyId: de.id })
    const unknownReference = referralDocument(ro, { agencyId: de.id })
    unknownReference.victim = { ...unknownReference.victim, reference: `V-${'0'.repeat(26)}` }
    const fine = [referralDocument(ro, { agencyId: de.id }), referralDocument(ro, { agencyId: de.id })]
    const queued = [fine[0]!, busy, stored, unknownReference, fine[1]!]
    // Another submission of `busy` holds its lock, as if it were being written right now.
    const releaseBusy = await holdTransaction(t, other, (trx) =>
      sql`select pg_advisory_xact_lock(hashtextextended(${`referral:${ro.id}:${busy.id}`}, 0))`.execute(trx),
    )
    const before = await writeCounts(app)
    const { answers: settled } = await submitQueued(t, queued)
    t.same(
      settled.map((a) => [a.statusCode, a.statusCode < 300 ? undefined : a.json().code]),
      [
        [201, undefined],
        [409, 'TRM_IN_PROGRESS'],
        [200, undefined],
        [422, 'TRM_VICTIM_REFERENCE_UNKNOWN'],
        [201, undefined],
      ],
      'in progress elsewhere: 409; stored before: its replay; unknown reference: 422; the others stored',
    )
    t.equal(settled[2]!.json().receipt, storedAnswer.json().receipt, 'the replay has the first receipt')
    t.same(
      await writeCounts(app),
      grown(before, 3),
      'the first and the two fine ones, with all their rows; nothing of the others',
    )
    const [one, two] = await transactionsOf(fine)
    t.same(one, two, 'the two fine ones still shared their statement')
    await releaseBusy()
    t.equal((await submit(busy)).statusCode, 201, 'once the other is gone, the document is taken')
  })

  t.test('an error of a whole shared statement: each is written again on its own', async (t) => {
    const queued = Array.from({ length: 3 }, () => referralDocument(ro, { agencyId: de.id }))
    const poisoned = queued[1]!
    // An error the checks do not foresee (here a trigger's), which fails the statement it is in.
    await sql`create function poison() returns trigger language plpgsql as $$
      begin
        if new.id = ${sql.lit(poisoned.id)}::uuid then raise exception 'poisoned for the test'; end if;
        return new;
      end $$`.execute(app.db)
    await sql`create trigger poison before insert on referrals for each row execute function poison()`.execute(
      app.db,
    )
    t.teardown(async () => {
      await sql`drop trigger poison on referrals`.execute(app.db)
      await sql`drop function poison()`.execute(app.db)
    })
    const before = await writeCounts(app)
    const { answers: settled } = await submitQueued(t, queued)
    t.same(
      settled.map((a) => a.statusCode),
      [201, 500, 201],
      'only the submission at fault fails',
    )
    const transactions = await transactionsOf(queued)
    t.same(
      transactions.map((txids) => txids.length),
      [1, 0, 1],
      'nothing of the one at fault is written',
    )
    t.not(transactions[0]![0], transactions[2]![0], 'the others were written again, each on its own')
    t.same(await writeCounts(app), grown(before, 3), 'the first and the two others, once each')
  })

  t.test('the same id twice never shares a statement, in any letter case, and is stored once', async (t) => {
    const twice = referralDocument(ro, { agencyId: de.id })
    const { answers } = await submitQueued(t, [twice, { ...twice, id: twice.id.toUpperCase() }])
    const statuses = answers.map((a) => a.statusCode).sort()
    t.same(statuses, [201, 422], 'one stores it; the other, another document with that id, is refused')
    t.equal((await transactionsOf([twice]))[0]!.length, 1, 'one message')
    const audit = await app.db
      .selectFrom('audit_events')
      .select('id')
      .where('action', '=', 'referral.submitted')
      .where('referral_id', '=', twice.id)
      .execute()
    t.equal(audit.length, 1, 'one audit event')
  })
})
