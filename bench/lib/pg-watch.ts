// What the benchmarks watch in Postgres from a connection of their own: where the servers'
// connections are (pg_stat_activity sampled every 50 ms, by application_name), whether they are
// quiet, and the hub's backlog (outbox rows the relay has not moved to BullMQ yet, audit events the
// sealer has not sealed yet): the work the worker still owes for referrals already answered.
import type pg from 'pg'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export interface Waits {
  samples: number
  /** `label | state | waiting on | query` → how many samples saw a connection there. */
  counts: Map<string, number>
}

export interface Backlog {
  outbox: number
  unsealed: number
}

export class PgWatch {
  /** Set once the backlog query failed: the schema is not the one this file knows. */
  backlogUnknown = false

  constructor(private readonly client: pg.Client) {}

  /** Samples the connections of the named applications (name → label) until the returned function is called. */
  startSampling(applications: ReadonlyMap<string, string>): () => Promise<Waits> {
    const counts = new Map<string, number>()
    let samples = 0
    let stopped = false
    const loop = (async () => {
      while (!stopped) {
        const { rows } = await this.client.query<{ application_name: string; what: string }>(
          `select application_name, state || ' | ' || coalesce(wait_event_type || ':' || wait_event, 'CPU') || ' | ' ||
                  regexp_replace(left(query, 48), '\\s+', ' ', 'g') as what
             from pg_stat_activity where application_name = any($1) and state <> 'idle'`,
          [[...applications.keys()]],
        )
        samples += 1
        for (const row of rows) {
          const key = `${applications.get(row.application_name)} | ${row.what}`
          counts.set(key, (counts.get(key) ?? 0) + 1)
        }
        await sleep(50)
      }
    })()
    return async () => {
      stopped = true
      await loop
      return { samples, counts }
    }
  }

  /**
   * Waits until none of the named applications' connections has been busy for a whole second (or
   * maxSeconds passed); answers the seconds waited. After an overloaded run a server goes on with
   * requests the generator gave up on, and the next run must not share the machine with that.
   */
  async quiet(applicationNames: readonly string[], maxSeconds = 180): Promise<number> {
    const started = performance.now()
    let idleSince = performance.now()
    while (performance.now() - idleSince < 1000 && performance.now() - started < maxSeconds * 1000) {
      const { rows } = await this.client.query<{ n: string }>(
        `select count(*) as n from pg_stat_activity where application_name = any($1) and state <> 'idle'`,
        [applicationNames],
      )
      if (Number(rows[0]?.n) > 0) idleSince = performance.now()
      await sleep(50)
    }
    return (performance.now() - started) / 1000
  }

  /** The hub's backlog in `schema`; undefined when the tables are not the ones this file knows. */
  async backlog(schema: string): Promise<Backlog | undefined> {
    if (this.backlogUnknown) return undefined
    const s = this.client.escapeIdentifier(schema)
    try {
      const { rows } = await this.client.query<{ outbox: string; unsealed: string }>(
        `select (select count(*) from ${s}.outbox where relayed_at is null) as outbox,
                (select count(*) from ${s}.audit_events e
                  where not exists (select from ${s}.audit_leaves l where l.event_id = e.id)) as unsealed`,
      )
      return { outbox: Number(rows[0]!.outbox), unsealed: Number(rows[0]!.unsealed) }
    } catch {
      this.backlogUnknown = true
      return undefined
    }
  }

  /**
   * Waits until the hub owes nothing (no backlog), then until its connections are quiet, or until
   * maxSeconds passed. Answers when the backlog was gone (`caughtUp`, seconds from the call; undefined
   * when it never was or cannot be read) and the seconds waited in all.
   */
  async drained(
    schema: string,
    applicationNames: readonly string[],
    maxSeconds = 180,
  ): Promise<{ caughtUp: number | undefined; seconds: number }> {
    const started = performance.now()
    const elapsed = () => (performance.now() - started) / 1000
    let caughtUp: number | undefined
    for (;;) {
      const backlog = await this.backlog(schema)
      if (!backlog) break
      if (backlog.outbox === 0 && backlog.unsealed === 0) {
        caughtUp = elapsed()
        break
      }
      if (elapsed() >= maxSeconds) return { caughtUp, seconds: elapsed() }
      await sleep(100)
    }
    await this.quiet(applicationNames, Math.max(1, maxSeconds - elapsed()))
    return { caughtUp, seconds: elapsed() }
  }
}
