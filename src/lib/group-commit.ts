/**
 * Group commit: items submitted one by one are run in batches, so that under load many share one
 * round trip and one commit. At most `concurrency` batches run at once; items that arrive meanwhile
 * wait and go together into the next batch, up to `maxBatch`. There is no timer: at low load an
 * item runs at once, alone.
 *
 * Each item gets its own answer: the runner answers one result per item, in order. When the runner
 * fails as a whole (a lost connection, a deadlock), each item of a batch of several is run again on
 * its own, one after another, and gets its own answer or error.
 */
export interface GroupCommitOptions<T> {
  /** Batches running at once (at least 1). */
  concurrency: number
  /** Items in one batch at most. */
  maxBatch: number
  /** Items waiting for a batch at most; beyond it `submit` rejects at once with {@link QueueFull}. */
  maxWaiting?: number
  /** Items with the same key never share a batch: a later one waits for a later batch. */
  key?: (item: T) => string
}

/** Runs a batch; answers one result per item, in the items' order. */
export type BatchRunner<T, R> = (items: readonly T[]) => Promise<readonly R[]>

/** The queue of waiting items is full: the item was not run. */
export class QueueFull extends Error {
  override name = 'QueueFull'
}

/** The item's signal aborted while it waited: it was not run. */
export class Abandoned extends Error {
  override name = 'Abandoned'
}

interface Waiting<T, R> {
  item: T
  key: string | undefined
  resolve: (result: R) => void
  reject: (error: unknown) => void
}

export class GroupCommit<T, R> {
  readonly #run: BatchRunner<T, R>
  readonly #options: Required<Omit<GroupCommitOptions<T>, 'key'>> & Pick<GroupCommitOptions<T>, 'key'>
  #waiting: Waiting<T, R>[] = []
  #running = 0

  constructor(run: BatchRunner<T, R>, options: GroupCommitOptions<T>) {
    if (!(options.concurrency >= 1)) throw new RangeError('concurrency must be at least 1')
    if (!(options.maxBatch >= 1)) throw new RangeError('maxBatch must be at least 1')
    this.#run = run
    this.#options = { maxWaiting: Number.POSITIVE_INFINITY, ...options }
  }

  /** Items waiting for a batch (not those in a running one). */
  get waiting(): number {
    return this.#waiting.length
  }

  /**
   * Runs the item in a batch; resolves with its result. Rejects at once with {@link QueueFull} when
   * the queue is full, with {@link Abandoned} when `signal` aborts before its batch starts (it then
   * gives up its place at once), or with the runner's error.
   */
  submit(item: T, signal?: AbortSignal): Promise<R> {
    const { maxWaiting, concurrency, key } = this.#options
    if (this.#waiting.length >= maxWaiting && this.#running >= concurrency) {
      return Promise.reject(new QueueFull('too many items are waiting'))
    }
    if (signal?.aborted) return Promise.reject(new Abandoned('abandoned before its batch started'))
    return new Promise<R>((resolve, reject) => {
      const waiting: Waiting<T, R> = { item, key: key?.(item), resolve, reject }
      signal?.addEventListener('abort', () => this.#abandon(waiting), { once: true })
      this.#waiting.push(waiting)
      this.#next()
    })
  }

  #abandon(waiting: Waiting<T, R>) {
    const at = this.#waiting.indexOf(waiting)
    if (at === -1) return // its batch has started: it runs to the end
    this.#waiting.splice(at, 1)
    waiting.reject(new Abandoned('abandoned before its batch started'))
  }

  #next() {
    const { concurrency, maxBatch } = this.#options
    while (this.#running < concurrency && this.#waiting.length > 0) {
      const batch: Waiting<T, R>[] = []
      const later: Waiting<T, R>[] = []
      const keys = new Set<string>()
      for (const waiting of this.#waiting) {
        const clash = waiting.key !== undefined && keys.has(waiting.key)
        if (batch.length < maxBatch && !clash) {
          if (waiting.key !== undefined) keys.add(waiting.key)
          batch.push(waiting)
        } else later.push(waiting)
      }
      this.#waiting = later
      this.#running += 1
      void this.#runBatch(batch).finally(() => {
        this.#running -= 1
        this.#next()
      })
    }
  }

  async #runBatch(batch: Waiting<T, R>[]): Promise<void> {
    try {
      settle(batch, await this.#run(batch.map((w) => w.item)))
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error)
        return
      }
      for (const waiting of batch) {
        try {
          settle([waiting], await this.#run([waiting.item]))
        } catch (alone) {
          waiting.reject(alone)
        }
      }
    }
  }
}

function settle<T, R>(batch: Waiting<T, R>[], results: readonly R[]) {
  if (results.length !== batch.length) {
    const error = new Error(`the batch runner answered ${results.length} results for ${batch.length} items`)
    for (const waiting of batch) waiting.reject(error)
    return
  }
  for (const [n, waiting] of batch.entries()) waiting.resolve(results[n]!)
}
