import t from 'tap'
import { buildApp } from '../../src/app.js'
import { appendInboxMessage } from '../../src/modules/ledger/inbox.repository.js'
import { signReferral } from '../../src/sdk/documents.js'
import { HubClient, type HubRequestError } from '../../src/sdk/hub-client.js'
import { addAgency, injectFetch } from '../helpers/agencies.js'
import { buildTestApp, LogCapture } from '../helpers/build-app.js'
import { databaseMillis, hasSettled, holdHorizon, inboxUntil, pollsWaiting } from '../helpers/inbox.js'
import { referralDocument } from '../helpers/referrals.js'
import { eventually } from '../helpers/webhook-receiver.js'

type Json = Record<string, any>

t.test('inbox', async (t) => {
  const { app } = await buildTestApp(t)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
  const submit = async () => {
    const document = referralDocument(ro, { country: 'DE' })
    await ro.client.request('POST', '/v1/referrals', { jws: await signReferral(document, ro.keys.signing) })
    return document.id
  }

  t.test('a waiting long-poll is woken by a referral committed through another API process', async (t) => {
    // A second app on the same database: the poll is served by one process, the referral by another.
    const other = await buildApp(app.config, { hubKeys: app.hubKeys, logStream: new LogCapture() })
    t.teardown(() => other.close())
    const deElsewhere = new HubClient({
      baseUrl: app.config.publicUrl,
      agencyId: de.id,
      signingKey: de.keys.signing,
      fetch: injectFetch(other),
    })
    const empty = await deElsewhere.request<{ items: Json[]; next: string | null }>('GET', '/v1/inbox')
    t.same(empty.items, [])
    const poll = deElsewhere.request<{ items: Json[] }>('GET', '/v1/inbox?wait=20')
    // It has read, found nothing and waits: the referral, committed from now on, can reach it only by
    // a wake-up; without one the poll answers an empty list at the end of its 20 s.
    await pollsWaiting(other, 1, 'the poll to wait')
    const id = await submit()
    const got = await poll
    t.equal(got.items.length, 1)
    t.match(got.items[0], { type: 'referral', referralId: id }, 'woken with the referral')
  })

  t.test('a long-poll is woken by a referral its own API process wrote as the write answers', async (t) => {
    const quiet = await addAgency(app, { country: 'SE' })
    const poll = quiet.client.request<{ items: Json[] }>('GET', '/v1/inbox?wait=20')
    await pollsWaiting(app, 1, 'the poll to wait')
    const document = referralDocument(ro, { agencyId: quiet.id })
    await ro.client.request('POST', '/v1/referrals', { jws: await signReferral(document, ro.keys.signing) })
    // The NOTIFY goes out a few milliseconds after the answer (it waits for others to share its
    // statement), and comes back through Postgres; this process's own poll does not wait for it.
    t.equal(app.inboxWakeups.waiting, 0, 'woken by the time the submission was answered')
    const got = await poll
    t.match(got.items, [{ type: 'referral', referralId: document.id }])
  })

  t.test('a long-poll with nothing to read ends empty at the end of the wait', async (t) => {
    const quiet = await addAgency(app, { country: 'SE' })
    // 3 s: its first read ends well before its wait does, even on a busy machine.
    const poll = quiet.client.request<{ items: Json[]; next: string | null }>('GET', '/v1/inbox?wait=3')
    await pollsWaiting(app, 1, 'the poll to wait rather than answer at once')
    t.same(await poll, { items: [], next: null })
    t.equal(app.inboxWakeups.waiting, 0, 'and it no longer waits')
  })

  t.test(
    'a read that returns messages is audited, with how many and the last one; an empty one is not',
    async (t) => {
      const reads = () =>
        app.db
          .selectFrom('audit_events')
          .select(['actor', 'target_id', 'details'])
          .where('action', '=', 'inbox.read')
          .where('actor', '=', de.id)
          .orderBy('id')
          .execute()
      const before = (await reads()).length
      const id = await submit()
      const items = await inboxUntil(de, (all) => all.some((m) => m['referralId'] === id))
      const after = await reads()
      t.ok(after.length > before, 'the read that found it is recorded')
      t.match(after.at(-1), {
        actor: de.id,
        target_id: de.id,
        details: { count: items.length, lastMessageId: items.at(-1)!['id'] },
      })
      const last = items.at(-1)!['cursor'] as string
      const empty = await de.client.request<{ items: Json[] }>('GET', `/v1/inbox?after=${last}`)
      t.same(empty.items, [])
      t.equal((await reads()).length, after.length, 'an empty read records nothing')
    },
  )

  t.test('confirming moves referrals to delivered and tells the sender; order and paging hold', async (t) => {
    const ids = [await submit(), await submit(), await submit()]
    await inboxUntil(de, (items) => ids.every((id) => items.some((m) => m['referralId'] === id)))
    const page1 = await de.client.request<{ items: Json[]; next: string }>('GET', '/v1/inbox?limit=2')
    const page2 = await de.client.request<{ items: Json[]; next: string }>(
      'GET',
      `/v1/inbox?limit=50&after=${page1.next}`,
    )
    const all = [...page1.items, ...page2.items]
    const seqOrder = all.map((i) => i['referralId']).filter((r) => ids.includes(r))
    t.same(seqOrder, ids, 'oldest first, in commit order')
    const last = all.at(-1)!
    const beforeConfirm = await databaseMillis(app)
    const confirmed = await de.client.request<{ confirmed: number }>('POST', '/v1/inbox/confirm', {
      through: last['cursor'],
    })
    const afterConfirm = await databaseMillis(app)
    t.equal(confirmed.confirmed, all.length)
    const again = await de.client.request<{ confirmed: number }>('POST', '/v1/inbox/confirm', {
      through: last['cursor'],
    })
    t.equal(again.confirmed, 0, 'confirming twice changes nothing')
    for (const id of ids) {
      const view = await ro.client.request<Json>('GET', `/v1/referrals/${id}`)
      t.equal(view['status'], 'delivered')
    }
    const after = await de.client.request<{ items: Json[] }>('GET', '/v1/inbox')
    t.same(after.items, [], 'nothing unconfirmed left')
    const delivered = (items: Json[], id: string) =>
      items.some((m) => m['referralId'] === id && m['type'] === 'status' && m['body'].status === 'delivered')
    const senderInbox = { items: await inboxUntil(ro, (items) => ids.every((id) => delivered(items, id))) }
    for (const id of ids) {
      t.ok(
        senderInbox.items.some(
          (m) => m['referralId'] === id && m['type'] === 'status' && m['body'].status === 'delivered',
        ),
      )
    }
    // Status messages get their ids inside the confirming statement (trm_uuid_v7): UUIDv7, and
    // ordered in time like the hub's own.
    const statusIds = senderInbox.items.filter((m) => m['type'] === 'status').map((m) => m['id'] as string)
    t.ok(statusIds.length >= 3)
    for (const id of statusIds)
      t.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    const millis = (id: string) => Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16)
    for (const id of statusIds) {
      t.ok(
        millis(id) >= beforeConfirm && millis(id) <= afterConfirm,
        'its timestamp is the database clock while the confirmation ran',
      )
    }
  })

  t.test('a cursor that is not the hub’s is a 400 naming the field', async (t) => {
    try {
      await de.client.request('POST', '/v1/inbox/confirm', { through: 'bogus' })
      t.fail('expected 400')
    } catch (error) {
      t.equal((error as HubRequestError).status, 400)
      t.same(((error as HubRequestError).body as Json)['errors'][0].pointer, '/through')
    }
  })
})

t.test('a message committed late by an older transaction is never stepped over', async (t) => {
  const { app } = await buildTestApp(t)
  const agency = await addAgency(app, { country: 'RO' })
  const referralId = '0d9d4b52-0000-4000-8000-000000000001'
  const message = (id: string) => ({
    id,
    agencyId: agency.id,
    type: 'status' as const,
    referralId,
    body: { n: id },
  })
  // T1 starts and writes first, but commits last.
  let commitT1!: () => void
  let t1Wrote!: () => void
  const wrote = new Promise<void>((resolve) => {
    t1Wrote = resolve
  })
  const t1Done = app.db.transaction().execute(async (trx) => {
    await appendInboxMessage(trx, message('01900000-0000-7000-8000-000000000001'))
    t1Wrote()
    await new Promise<void>((resolve) => {
      commitT1 = resolve
    })
  })
  await wrote
  await appendInboxMessage(app.db, message('01900000-0000-7000-8000-000000000002'))
  const early = await agency.client.request<{ items: Json[]; next: string | null }>('GET', '/v1/inbox')
  t.same(early.items, [], 'the later message waits while an older transaction is open')
  commitT1()
  await t1Done
  const items = await inboxUntil(agency, (all) => all.length === 2)
  t.same(
    items.map((m) => m['id']),
    ['01900000-0000-7000-8000-000000000001', '01900000-0000-7000-8000-000000000002'],
    'both, in commit-safe order',
  )
})

t.test('a long-poll woken while an older transaction is open returns when that one ends', async (t) => {
  const { app } = await buildTestApp(t)
  const ro = await addAgency(app, { country: 'RO' })
  const de = await addAgency(app, { country: 'DE', kind: 'national_agency', ncp: true })
  // An unrelated transaction holds an xid, and so the horizon; its commit notifies no one. The
  // referral committed meanwhile must reach the waiting poll when it ends, not at the end of the wait.
  const older = await holdHorizon(t, app)
  const poll = de.client.request<{ items: Json[] }>('GET', '/v1/inbox?wait=20')
  await pollsWaiting(app, 1, 'the poll to wait')
  const document = referralDocument(ro, { country: 'DE' })
  await ro.client.request('POST', '/v1/referrals', { jws: await signReferral(document, ro.keys.signing) })
  // The referral's commit woke the poll: it waits no more, and looks again (not readable yet).
  await eventually(async () => app.inboxWakeups.waiting === 0 || undefined, 'the poll to be woken', 30_000)
  const meanwhile = await de.client.request<{ items: Json[] }>('GET', '/v1/inbox')
  t.same(meanwhile.items, [], 'not readable while the older transaction is open')
  t.notOk(await hasSettled(poll), 'the woken poll has not answered')
  // Once woken, nothing wakes it again: it finds the referral by looking while it waits, or answers
  // an empty list at the end of its 20 s.
  await older.end()
  const got = await poll
  t.match(got.items, [{ type: 'referral', referralId: document.id }])
  t.equal(got.items.length, 1)
})
