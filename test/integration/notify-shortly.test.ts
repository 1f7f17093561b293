import pg from 'pg'
import t from 'tap'
import { notifyShortly } from '../../src/db/after-commit.js'
import { createDb } from '../../src/db/create-db.js'
import { DATABASE_URL, uniqueName } from '../helpers/env.js'
import { eventually } from '../helpers/webhook-receiver.js'

// A referral's wake-ups (long-polls, the outbox relay) wait a few milliseconds for those of other
// referrals and go in one statement; every one still arrives.
t.test('wake-ups asked for together go in one statement, and every one arrives', async (t) => {
  const { db } = createDb(
    { databaseUrl: DATABASE_URL, databaseSchema: undefined, databasePoolMax: 2 },
    'trm-test-notify',
  )
  t.teardown(() => db.destroy())
  const listener = new pg.Client({ connectionString: DATABASE_URL })
  await listener.connect()
  t.teardown(() => listener.end())
  const channel = uniqueName('trm_test_wake')
  const heard: string[] = []
  listener.on('notification', (n) => {
    if (n.channel === channel) heard.push(n.payload ?? '')
  })
  await listener.query(`listen ${listener.escapeIdentifier(channel)}`)

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
