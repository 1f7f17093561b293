import { Redis, type RedisOptions } from 'ioredis'

/**
 * Connection for request paths and producers: fails fast instead of queueing commands while
 * Redis is away, so a request never hangs on it (BullMQ's production guide).
 */
export function createProducerRedis(url: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    ...options,
  })
  redis.on('error', () => {}) // reconnection is automatic; readiness reports the outage
  return redis
}

/** Connection for BullMQ workers: blocking commands must wait for Redis, never give up. */
export function createWorkerRedis(url: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    ...options,
  })
  redis.on('error', () => {})
  return redis
}

/** PING with a deadline, for readiness checks. */
export async function pingRedis(redis: Redis, timeoutMs = 1_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  try {
    const reply = await Promise.race([
      redis.ping(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), timeoutMs)
      }),
    ])
    return reply === 'PONG'
  } catch {
    return false
  } finally {
    clearTimeout(timer)
  }
}
