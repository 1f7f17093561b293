import pg from 'pg'
import { DATABASE_URL } from './env.js'
import { TcpProxy } from './tcp-proxy.js'

type Tap = { teardown: (fn: () => unknown) => void }

const postgres = new URL(DATABASE_URL)

/** A connection of the test's own, outside the app's pools, to look at and end the app's sessions. */
export async function adminClient(t: Tap): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: DATABASE_URL, application_name: 'trm-test-admin' })
  client.on('error', () => {})
  await client.connect()
  t.teardown(() => client.end())
  return client
}

/**
 * Ends the sessions of an application name that match (pg_terminate_backend): by their last
 * statement's text, or by a lock they wait for on a table. Match narrowly: other test files run
 * alongside, with sessions of the same application names.
 */
export async function terminate(
  admin: pg.Client,
  applicationName: string,
  match: { query: string } | { waitingFor: string },
): Promise<number> {
  const { rows } = await admin.query<{ ended: boolean }>(
    `select pg_terminate_backend(a.pid) as ended from pg_stat_activity a
     where a.application_name = $1 and a.pid <> pg_backend_pid()
       and ($2::text is null or a.query like $2)
       and ($3::text is null or exists (select from pg_locks l
         where l.pid = a.pid and not l.granted and l.relation = $3::regclass))`,
    [applicationName, 'query' in match ? match.query : null, 'waitingFor' in match ? match.waitingFor : null],
  )
  return rows.filter((r) => r.ended).length
}

/** Postgres behind a proxy the test can cut (and restore): for the process under test only. */
export async function postgresProxy(t: Tap): Promise<{ proxy: TcpProxy; port: number; url: string }> {
  const proxy = new TcpProxy(postgres.hostname, Number(postgres.port || 5432))
  const port = await proxy.start()
  t.teardown(() => proxy.stop())
  const url = new URL(DATABASE_URL)
  url.port = String(port)
  return { proxy, port, url: url.toString() }
}

/**
 * A transaction of the test's own holding a table in ACCESS EXCLUSIVE mode, so the app's statements
 * on it wait until `release`; `waiters` counts the sessions waiting for it.
 */
export async function holdTable(t: Tap, table: string) {
  const holder = await adminClient(t)
  await holder.query('begin')
  await holder.query(`lock table ${table} in access exclusive mode`)
  return {
    async waiters(): Promise<number> {
      const { rows } = await holder.query<{ n: number }>(
        'select count(*)::int as n from pg_locks where relation = $1::regclass and not granted',
        [table],
      )
      return rows[0]!.n
    },
    release: () => holder.query('rollback'),
  }
}
