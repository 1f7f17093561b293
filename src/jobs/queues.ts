import { Queue } from 'bullmq'
import type { Redis } from 'ioredis'

/** Every BullMQ queue the hub uses. The prefix carries a Redis Cluster hash tag, e.g. `{trm}`. */
export const QUEUE_NAMES = ['deadlines', 'webhooks', 'maintenance'] as const
export type QueueName = (typeof QUEUE_NAMES)[number]

export type Queues = Record<QueueName, Queue>

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
