import type { Kysely, Transaction } from 'kysely'
import { GroupCommit } from '../lib/group-commit.js'
import { sendNotifications } from './session.repository.js'
import type { Database } from './types.js'

/** Wake-ups, by channel: the payloads to NOTIFY on it. */
export type Notifications = Map<string, Set<string>>

/**
 * What a transaction asks to happen once it has committed: the NOTIFYs that wake long-polls and the
 * outbox relay. NOTIFY inside a transaction makes its commit take a database-wide lock (PostgreSQL
 * serialises the commits of notifying transactions), so they are collected here and sent right
 * after the commit by {@link transact}. They are hints: the relay also sweeps, long-polls time out.
 */
export class AfterCommit {
  readonly notifications: Notifications = new Map()

  notify(channel: string, payload: string): void {
    const payloads = this.notifications.get(channel) ?? new Set()
    payloads.add(payload)
    this.notifications.set(channel, payloads)
  }
}

/**
 * Runs fn in a transaction with the collector of what must happen after it commits, and sends the
 * notifications it asked for once it has committed (none when it rolls back).
 */
export async function transact<T>(
  db: Kysely<Database>,
  fn: (trx: Transaction<Database>, afterCommit: AfterCommit) => Promise<T>,
): Promise<T> {
  const afterCommit = new AfterCommit()
  const result = await db.transaction().execute((trx) => fn(trx, afterCommit))
  await notifySoon(db, afterCommit.notifications)
  return result
}

/** One group commit of NOTIFYs per database: concurrent requests share one statement. */
const senders = new WeakMap<Kysely<Database>, GroupCommit<Notifications, void>>()

function senderFor(db: Kysely<Database>): GroupCommit<Notifications, void> {
  let sender = senders.get(db)
  if (!sender) {
    sender = new GroupCommit<Notifications, void>(
      async (batch) => {
        const unique = new Set<string>()
        const notifications: { channel: string; payload: string }[] = []
        for (const asked of batch) {
          for (const [channel, payloads] of asked) {
            for (const payload of payloads) {
              const key = JSON.stringify([channel, payload])
              if (unique.has(key)) continue
              unique.add(key)
              notifications.push({ channel, payload })
            }
          }
        }
        // A failure is dropped: they are hints.
        await sendNotifications(db, notifications).catch(() => {})
        return batch.map(() => undefined)
      },
      { concurrency: 1, maxBatch: 1000 },
    )
    senders.set(db, sender)
  }
  return sender
}

/** This process's own listeners, by database and channel (see listenInProcess). */
const inProcess = new WeakMap<Kysely<Database>, Map<string, Set<(payload: string) => void>>>()

/**
 * Hears, in this process, what this process NOTIFYs on `channel` through `db`, as soon as it asks
 * (after the commit, before the NOTIFY goes out): a long-poll woken by a referral the same API
 * process wrote need not wait for the NOTIFY's round trip through Postgres. Other processes, and this
 * one for other processes' writes, still hear the NOTIFY (so this process hears its own twice).
 * Returns the function that stops listening.
 */
export function listenInProcess(
  db: Kysely<Database>,
  channel: string,
  onPayload: (payload: string) => void,
): () => void {
  const channels = inProcess.get(db) ?? new Map<string, Set<(payload: string) => void>>()
  inProcess.set(db, channels)
  const listeners = channels.get(channel) ?? new Set()
  channels.set(channel, listeners)
  listeners.add(onPayload)
  return () => {
    listeners.delete(onPayload)
  }
}

function hearInProcess(db: Kysely<Database>, notifications: Notifications): void {
  const channels = inProcess.get(db)
  if (!channels) return
  for (const [channel, payloads] of notifications) {
    for (const listener of channels.get(channel) ?? []) {
      for (const payload of payloads) {
        try {
          listener(payload)
        } catch {
          // A hint a listener failed to take: the write it follows has committed, and the NOTIFY
          // still goes out.
        }
      }
    }
  }
}

/**
 * Sends NOTIFYs outside any transaction (so, after the commit they follow), batched with those of
 * concurrent requests; this process's own listeners hear them at once. The promise resolves once
 * they went out; a failure is dropped (they are hints).
 */
export function notifySoon(db: Kysely<Database>, notifications: Notifications): Promise<void> {
  if (notifications.size === 0) return Promise.resolve()
  hearInProcess(db, notifications)
  return sendSoon(db, notifications)
}

function sendSoon(db: Kysely<Database>, notifications: Notifications): Promise<void> {
  return senderFor(db).submit(notifications)
}

/** How long a referral's wake-ups wait for others to share their statement. */
export const NOTIFY_LINGER_MS = 5

/** Wake-ups waiting out their linger, by database: merged, then sent in one statement. */
const lingering = new WeakMap<
  Kysely<Database>,
  { notifications: Notifications; sent: Promise<void>; sendNow: () => void }
>()

/**
 * Like {@link notifySoon}, for a caller that does not wait for them: the notifications of the next
 * `lingerMs` are merged and sent in one statement (this process's own listeners hear them at once). A notifying transaction is not cheap for
 * Postgres (a transaction id, a commit record, every listening session woken), and at a few hundred
 * referrals a second each would otherwise go alone; a wake-up comes that much later.
 */
export function notifyShortly(
  db: Kysely<Database>,
  notifications: Notifications,
  lingerMs = NOTIFY_LINGER_MS,
): Promise<void> {
  if (notifications.size === 0) return Promise.resolve()
  hearInProcess(db, notifications)
  let pending = lingering.get(db)
  if (!pending) {
    const merged: Notifications = new Map()
    let sendNow = () => {}
    const sent = new Promise<void>((resolve) => {
      const timer = setTimeout(() => sendNow(), lingerMs)
      sendNow = () => {
        clearTimeout(timer)
        if (lingering.get(db)?.notifications !== merged) return // sent already
        lingering.delete(db)
        resolve(sendSoon(db, merged))
      }
    })
    pending = { notifications: merged, sent, sendNow: () => sendNow() }
    lingering.set(db, pending)
  }
  for (const [channel, payloads] of notifications) {
    const into = pending.notifications.get(channel) ?? new Set()
    for (const payload of payloads) into.add(payload)
    pending.notifications.set(channel, into)
  }
  return pending.sent
}

/**
 * Sends the wake-ups still lingering (see notifyShortly) now, and resolves once they went out: for a
 * process about to close its database, so that none is dropped with it.
 */
export function flushShortly(db: Kysely<Database>): Promise<void> {
  const pending = lingering.get(db)
  if (!pending) return Promise.resolve()
  pending.sendNow()
  return pending.sent
}
