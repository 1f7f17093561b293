import type { ServerResponse } from 'node:http'

/**
 * A signal that aborts when the client's connection closes before its response was sent: work that
 * has not started for it yet can be dropped (its client retries, or gave up).
 */
export function clientGone(response: ServerResponse): AbortSignal {
  const controller = new AbortController()
  response.once('close', () => {
    if (!response.writableEnded) controller.abort()
  })
  return controller.signal
}
