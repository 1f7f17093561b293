import type { FastifyInstance } from 'fastify'
import { sql } from 'kysely'
import type { Test } from 'tap'
import type { TestAgency } from './agencies.js'
import { eventually } from './webhook-receiver.js'

type Json = Record<string, any>

/**
 * Reads the agency's inbox until the predicate holds (or the bound runs out). A message becomes
 * readable once every transaction older than the one that wrote it has ended, which under parallel
 * test files can be seconds after the write returned (another file's long transaction holds the
 * horizon back: on CI's busy machine, once over 30 s); the bound is generous because it only
 * matters when the test would fail anyway.
 */
export async function inboxUntil(
  agency: TestAgency,
  predicate: (items: Json[]) => boolean,
  timeoutMs = 60_000,
): Promise<Json[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const items = await readAll(agency)
    if (predicate(items) || Date.now() > deadline) return items
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Every readable unconfirmed message, page after page. */
async function readAll(agency: TestAgency): Promise<Json[]> {
  const all: Json[] = []
  let after = ''
  for (;;) {
    const page = await agency.client.request<{ items: Json[]; next: string | null }>(
      'GET',
      `/v1/inbox?limit=200${after ? `&after=${after}` : ''}`,
    )
    all.push(...page.items)
    if (page.items.length < 200 || !page.next) return all
    after = page.next
  }
}

/**
 * Resolves once `count` long-polls wait in the app, with its listener connected: a poll counted there
 * has read the inbox, found nothing and waits, and a message committed from then on reaches it only
 * by a wake-up (the listener connecting would wake it too, hence the wait for it). Bounded: rejects
 * when it does not happen.
 */
export async function pollsWaiting(app: FastifyInstance, count: number, what: string): Promise<void> {
  await eventually(
    async () => (app.inboxWakeups.listening && app.inboxWakeups.waiting === count) || undefined,
    what,
    30_000,
  )
}

/** The database's clock now in Unix milliseconds, rounded down as trm_uuid_v7 does. */
export async function databaseMillis(app: FastifyInstance): Promise<number> {
  const { rows } = await sql<{ ms: string }>`
    select floor(extract(epoch from clock_timestamp()) * 1000)::text as ms
  `.execute(app.db)
  return Number(rows[0]!.ms)
}

/** Whether a promise has settled by now: callbacks of a settled one run before the next macrotask. */
export async function hasSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false
  promise.then(
    () => {
      settled = true
    },
    () => {
      settled = true
    },
  )
  await new Promise((resolve) => setImmediate(resolve))
  return settled
}

/**
 * Opens a transaction that takes a transaction id and stays open: it holds back the horizon below
 * which inbox messages become readable, and its end notifies no one. `end` commits it; whatever
 * fails, the teardown ends it too (the app cannot close while it holds a connection).
 */
export async function holdHorizon(t: Test, app: FastifyInstance): Promise<{ end: () => Promise<void> }> {
  let release!: () => void
  let xidTaken!: () => void
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  const taken = new Promise<void>((resolve) => {
    xidTaken = resolve
  })
  const done = app.db.transaction().execute(async (trx) => {
    await sql`select pg_current_xact_id()`.execute(trx)
    xidTaken()
    await released
  })
  t.teardown(() => release())
  await Promise.race([taken, done])
  return {
    end: async () => {
      release()
      await done
    },
  }
}

/** The inbox message of a referral (its own, `referral`) in an agency's inbox. */
export function referralMessage(app: FastifyInstance, referralId: string, agencyId: string) {
  return app.db
    .selectFrom('inbox_messages')
    .select(['txid', 'seq', 'confirmed_at'])
    .where('referral_id', '=', referralId)
    .where('agency_id', '=', agencyId)
    .where('type', '=', 'referral')
    .executeTakeFirstOrThrow()
}
