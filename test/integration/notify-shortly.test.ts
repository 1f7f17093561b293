import pg from 'pg'
import t, { type Test } from 'tap'
import { flushShortly, listenInProcess, notifyShortly, notifySoon } from '../../src/db/after-commit.js'
import { createDb } from '../../src/db/create-db.js'
import { DATABASE_URL, uniqueName } from '../helpers/env.js'
import { eventually } from '../helpers/webhook-receiver.js'

const CONFIG = { databaseUrl: DATABASE_URL, databaseSchema: undefined, databasePoolMax: 2 }

/** A session of its own LISTENing on a new channel: the channel, and the payloads heard on it. */
async function listening(t: Test): Promise<{ channel: string; heard: string[] }> {
  const listener = new pg.Client({ connectionString: DATABASE_URL })
  await listener.connect()
  t.teardown(() => listener.end())
  const channel = uniqueName('trm_test_wake')
  const heard: string[] = []
  listener.on('notification', (n) => {
    if (n.channel === channel) heard.push(n.payload ?? '')
  })
  await listener.query(`listen ${listener.escapeIdentifier(channel)}`)
  return { channel, heard }
}

// A referral's wake-ups (long-polls, the outbox relay) wait a few milliseconds for those of other
// referrals and go in one statement; every one still arrives.
t.test('wake-ups asked for together go in one statement, and every one arrives', async (t) => {
  const { db } = createDb(CONFIG, 'trm-test-notify')
  t.teardown(() => db.destroy())
  const { channel, heard } = await listening(t)

  const first = notifyShortly(db, new Map([[channel, new Set(['agency-a'])]]))
  const second = notifyShortly(db, new Map([[channel, new Set(['agency-b', 'agency-a'])]]))
  t.equal(first, second, 'the second joined the first one’s statement')
  await first
  await eventually(async () => heard.length >= 2 || undefined, 'both wake-ups')
  t.same([...heard].sort(), ['agency-a', 'agency-b'], 'each payload once, none lost')

  const later = notifyShortly(db, new Map([[channel, new Set(['agency-c'])]]), 1)
  t.not(later, first, 'once sent, the next wake-up starts a statement of its own')
  await later
  await eventually(async () => heard.includes('agency-c') || undefined, 'the later wake-up')
})

// A long-poll served by the process that wrote its message is woken without the NOTIFY's round trip
// through Postgres; other processes (and this one, a moment later) still hear the NOTIFY.
t.test('this process hears its own wake-ups at once, the others by NOTIFY', async (t) => {
  const { db } = createDb(CONFIG, 'trm-test-notify')
  const { db: otherProcess } = createDb(CONFIG, 'trm-test-notify-other')
  t.teardown(() => Promise.all([db.destroy(), otherProcess.destroy()]))
  const { channel, heard: byNotify } = await listening(t)
  const inProcess: string[] = []
  const elsewhere: string[] = []
  const stop = listenInProcess(db, channel, (payload) => inProcess.push(payload))
  listenInProcess(otherProcess, channel, (payload) => elsewhere.push(payload))
  listenInProcess(db, uniqueName('trm_test_other_channel'), (payload) => elsewhere.push(payload))

  const shortly = notifyShortly(db, new Map([[channel, new Set(['agency-a'])]]))
  t.same(inProcess, ['agency-a'], 'heard in this process as it asked, before any statement ran')
  const soon = notifySoon(db, new Map([[channel, new Set(['agency-b'])]]))
  t.same(inProcess, ['agency-a', 'agency-b'])
  await Promise.all([shortly, soon])
  await eventually(async () => byNotify.length >= 2 || undefined, 'both NOTIFYs')
  t.same([...byNotify].sort(), ['agency-a', 'agency-b'], 'and sent to Postgres all the same')
  t.same(elsewhere, [], 'never heard through another database handle or on another channel')

  stop()
  await notifySoon(db, new Map([[channel, new Set(['agency-c'])]]))
  t.same(inProcess, ['agency-a', 'agency-b'], 'not once it stopped listening')
  await eventually(async () => byNotify.includes('agency-c') || undefined, 'the NOTIFY after that')
})

t.test('lingering wake-ups go out when flushed, and a listener that throws stops nothing', async (t) => {
  const { db } = createDb(CONFIG, 'trm-test-notify')
  t.teardown(() => db.destroy())
  const { channel, heard } = await listening(t)
  listenInProcess(db, channel, () => {
    throw new Error('a listener that fails')
  })
  // A linger far longer than the test may take: only the flush can send it.
  const lingering = notifyShortly(db, new Map([[channel, new Set(['agency-a'])]]), 600_000)
  await flushShortly(db)
  await lingering
  await eventually(async () => heard.includes('agency-a') || undefined, 'the flushed wake-up')
  await flushShortly(db) // nothing left: resolves at once
  await notifySoon(db, new Map([[channel, new Set(['agency-b'])]]))
  await eventually(async () => heard.includes('agency-b') || undefined, 'the next one')
  t.same(heard, ['agency-a', 'agency-b'])
})
