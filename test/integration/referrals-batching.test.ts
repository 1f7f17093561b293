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
type Tap = Pick<typeof t, 'teardown'>

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
  const { app, config } = await buildTestApp(t, { DATABASE_POOL_MAX: '2' })
  const { db: other } = createDb(config, 'trm-test-other')
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

  /** Starts `first` and holds its statement until the returned release; it occupies the writer. */
  const occupyWriter = async (t: Tap, first: Document) => {
    const release = await holdTransaction(t, other, (trx) =>
      sql`lock table inbox_messages in exclusive mode`.execute(trx),
    )
    const answer = submit(first)
    await until(async () => {
      const { rows } = await sql<{ n: string }>`select count(*) as n from pg_locks
        where not granted and relation = 'inbox_messages'::regclass`.execute(other)
      return Number(rows[0]!.n) === 1
    }, 'the first statement waits on the lock')
    return { answer, release }
  }
  const messagesOf = (ids: string[]) =>
    app.db
      .selectFrom('inbox_messages')
      .select(['referral_id', 'txid'])
      .where('referral_id', 'in', ids)
      .where('type', '=', 'referral')
      .execute()

  t.test('share one statement, and each gets its own answer', async (t) => {
    const earlier = referralDocument(ro, { agencyId: de.id })
    const token = 'L'.repeat(43)
    earlier.victim = { ...earlier.victim, linkageToken: token }
    t.equal((await submit(earlier)).statusCode, 201)

    const first = referralDocument(ro, { agencyId: de.id })
    const queued = [
      referralDocument(ro, { agencyId: de.id }, { urgency: 'immediate' }),
      referralDocument(ro, { agencyId: pushed.id }),
      referralDocument(ro, { country: 'FR' }),
    ]
    queued[0]!.victim = { ...queued[0]!.victim, linkageToken: token }
    const held = await occupyWriter(t, first)
    const answers = queued.map((document) => submit(document))
    await until(() => app.submissions.waiting === queued.length, 'all wait for the writer')
    await held.release()
    t.equal((await held.answer).statusCode, 201)
    const bodies = await Promise.all(answers.map(async (answer) => (await answer).json()))
    t.same(
      bodies.map((b) => b.id),
      queued.map((d) => d.id),
      'each answer is for its own document',
    )
    t.same(
      bodies.map((b) => b.possibleDuplicates),
      [1, 0, 0],
      'linked counts are per referral',
    )
    t.equal(bodies[1].recipient.agencyId, pushed.id)
    t.not(bodies[0].victimReference, bodies[1].victimReference)

    const messages = await messagesOf([first.id, ...queued.map((d) => d.id)])
    t.equal(messages.length, 4, 'one message per referral')
    const txids = new Set(messages.filter((m) => m.referral_id !== first.id).map((m) => m.txid))
    t.equal(txids.size, 1, 'the three queued ones were written in one transaction')
    t.not(messages.find((m) => m.referral_id === first.id)!.txid, [...txids][0])

    const deliveries = await app.db.selectFrom('deliveries').select('referral_id').execute()
    t.same(
      deliveries.map((d) => d.referral_id),
      [queued[1]!.id],
      'only the push recipient gets a delivery',
    )
    const webhooks = await app.db
      .selectFrom('outbox')
      .select('payload')
      .where('queue', '=', 'webhooks')
      .execute()
    t.equal(webhooks.length, 1, 'and its webhook job')
    const audit = await app.db
      .selectFrom('audit_events')
      .select('referral_id')
      .where('action', '=', 'referral.submitted')
      .where(
        'referral_id',
        'in',
        queued.map((d) => d.id),
      )
      .execute()
    t.equal(audit.length, 3, 'an audit event each')

    const replay = await submit(queued[2]!)
    t.equal(replay.statusCode, 200, 'a replay finds what the shared statement stored')
    t.equal(replay.json().receipt, bodies[2].receipt)
  })

  t.test('a refusal inside a shared statement refuses only its own submission', async (t) => {
    const first = referralDocument(ro, { agencyId: de.id })
    const queued = Array.from({ length: 4 }, () => referralDocument(ro, { agencyId: de.id }))
    const busy = queued[2]!
    const held = await occupyWriter(t, first)
    // Another submission of `busy` holds its lock, as if it were being written right now.
    const releaseBusy = await holdTransaction(t, other, (trx) =>
      sql`select pg_advisory_xact_lock(hashtextextended(${`referral:${ro.id}:${busy.id}`}, 0))`.execute(trx),
    )
    const before = await writeCounts(app)
    const answers = queued.map((document) => submit(document))
    await until(() => app.submissions.waiting === queued.length, 'all wait for the writer')
    await held.release()
    t.equal((await held.answer).statusCode, 201)
    const settled = await Promise.all(answers)
    t.same(
      settled.map((a) => a.statusCode),
      [201, 201, 409, 201],
      'the one in progress elsewhere is a 409, the others are stored',
    )
    t.equal(settled[2]!.json().code, 'TRM_IN_PROGRESS')
    const after = await writeCounts(app)
    t.same(
      after,
      {
        ...before,
        referrals: before.referrals + 4,
        inbox: before.inbox + 4,
        outbox: before.outbox + 4,
        audit: before.audit + 4,
      },
      'the first and three queued ones, with all their rows; nothing of the refused one',
    )
    const stored = await app.db.selectFrom('referrals').select('id').where('id', '=', busy.id).execute()
    t.same(stored, [])
    await releaseBusy()
    t.equal((await submit(busy)).statusCode, 201, 'once the other is gone, the document is taken')
  })

  t.test('the same document twice never shares a statement, and is stored once', async (t) => {
    const first = referralDocument(ro, { agencyId: de.id })
    const twice = referralDocument(ro, { agencyId: de.id })
    const held = await occupyWriter(t, first)
    const answers = [submit(twice), submit(twice)]
    await until(() => app.submissions.waiting === 2, 'both wait for the writer')
    await held.release()
    const statuses = (await Promise.all(answers)).map((a) => a.statusCode).sort()
    t.same(statuses, [200, 201], 'one stores it, the other replays it')
    const rows = await app.db.selectFrom('referrals').select('id').where('id', '=', twice.id).execute()
    t.equal(rows.length, 1)
  })
})
