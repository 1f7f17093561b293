import { type Job, Queue } from 'bullmq'
import type { Redis } from 'ioredis'

import { QUEUE_NAMES, type QueueName } from '../modules/ledger/outbox.service.js'

export { QUEUE_NAMES, type QueueName }

export type Queues = Record<QueueName, Queue>

/** A processor that declares `signal` gets an AbortSignal from BullMQ (when the worker cancels jobs). */
export type Processor = (job: Job, token?: string, signal?: AbortSignal) => Promise<unknown>

export function createQueues(connection: Redis, prefix: string): Queues {
  const entries = QUEUE_NAMES.map((name) => {
    const queue = new Queue(name, { connection, prefix })
    queue.on('error', () => {}) // surfaced through readiness and metrics, not as crashes
    return [name, queue] as const
  })
  return Object.fromEntries(entries) as Queues
}

export async function closeQueues(queues: Queues): Promise<void> {
  await Promise.allSettled(Object.values(queues).map((queue) => queue.close()))
}
