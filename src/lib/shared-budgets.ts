import type { Redis } from 'ioredis'

/** One key's count in its window, as far as this process knows it. */
export interface BudgetCount {
  /** Every process's counts as of the last synchronisation, plus this process's since. */
  count: number
  /** Until the window ends. */
  resetMs: number
}

interface Entry {
  /** When the window ends (this process's clock): set by the first count, then by Redis's TTL. */
  end: number
  /** The total in Redis when this process last heard it (its own counts sent until then included). */
  shared: number
  /** Counted here and on their way to Redis. */
  sending: number
  /** Counted here since. */
  pending: number
  /** Counted or read since the last synchronisation: worth asking Redis about. */
  dirty: boolean
}

export interface SharedBudgetsOptions {
  /** Prefix of the Redis keys (a key's name follows it). */
  prefix: string
  windowMs: number
  /** How often the counts go to Redis and come back. */
  syncMs: number
}

/**
 * Fixed-window counters shared by every API process through Redis, with no Redis round trip in a
 * request's path: a request is counted in memory at once, and every `syncMs` one pipeline adds each
 * process's new counts to Redis and brings back the totals and when each window ends. A key's window
 * starts with its first count and ends when its Redis key expires (`SET … PX NX`, then `INCRBY`).
 *
 * In one process a count is exact and seen by the next request. Across processes it is approximate:
 * a process sees the others' counts at most `syncMs` late (plus a Redis round trip), so requests
 * spread over P processes may pass a budget by what the other P − 1 processes take in that time.
 * Counts are not dropped when Redis does not answer: they go with the next synchronisation.
 */
export class SharedBudgets {
  private readonly entries = new Map<string, Entry>()
  private readonly timer: NodeJS.Timeout
  private syncing: Promise<void> | undefined

  constructor(
    private readonly redis: Redis,
    private readonly options: SharedBudgetsOptions,
  ) {
    this.timer = setInterval(() => void this.sync(), options.syncMs)
    this.timer.unref()
  }

  /** Counts one request under `key` (or only reads, with `increment` false); the count includes it. */
  take(key: string, increment: boolean): BudgetCount {
    const now = Date.now()
    let entry = this.entries.get(key)
    if (entry === undefined || entry.end <= now) {
      entry = { end: now + this.options.windowMs, shared: 0, sending: 0, pending: 0, dirty: false }
      this.entries.set(key, entry)
    }
    let count = entry.shared + entry.sending + entry.pending
    if (increment) {
      // Read until now, never counted: the window starts with this first count.
      if (count === 0) entry.end = now + this.options.windowMs
      entry.pending += 1
      count += 1
    }
    entry.dirty = true
    return { count, resetMs: entry.end - now }
  }

  /** Sends the new counts and learns the totals; one at a time (a call during one joins it). */
  sync(): Promise<void> {
    this.syncing ??= this.exchange().finally(() => {
      this.syncing = undefined
    })
    return this.syncing
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    await this.sync()
  }

  private async exchange(): Promise<void> {
    const now = Date.now()
    const ready = this.redis.status === 'ready'
    const batch: Entry[] = []
    const pipeline = this.redis.pipeline()
    for (const [key, entry] of this.entries) {
      if (entry.end <= now) {
        this.entries.delete(key)
        continue
      }
      if (!entry.dirty || !ready) continue
      batch.push(entry)
      entry.dirty = false
      entry.sending = entry.pending
      entry.pending = 0
      const redisKey = this.options.prefix + key
      // Only read (sending 0): nothing is created for an address never counted.
      if (entry.sending > 0) {
        pipeline.set(redisKey, 0, 'PX', this.options.windowMs, 'NX')
        pipeline.incrby(redisKey, entry.sending)
      } else {
        pipeline.get(redisKey)
      }
      pipeline.pttl(redisKey)
    }
    if (batch.length === 0) return
    let results: [Error | null, unknown][] | null = null
    try {
      results = await pipeline.exec()
    } catch {
      // The connection went on the way: every count goes again with the next synchronisation.
    }
    const answered = Date.now()
    let r = 0
    for (const entry of batch) {
      if (entry.sending > 0) r += 1
      const [error, total] = results?.[r] ?? [new Error('no answer'), null]
      const [ttlError, ttl] = results?.[r + 1] ?? [error, null]
      r += 2
      if (error || ttlError) {
        entry.pending += entry.sending
        entry.dirty = true
      } else {
        // Never below what this process counted itself (Redis may have lost the key: restarted, flushed).
        entry.shared = Math.max(entry.shared + entry.sending, Number(total ?? 0))
        if (Number(ttl) > 0) entry.end = answered + Number(ttl)
      }
      entry.sending = 0
    }
  }
}
