import type { TestAgency } from './agencies.js'

type Json = Record<string, any>

/**
 * Reads the agency's inbox until the predicate holds (or the bound runs out). A message becomes
 * readable once every transaction older than the one that wrote it has ended, which under parallel
 * test files can be a few milliseconds after the write returned.
 */
export async function inboxUntil(
  agency: TestAgency,
  predicate: (items: Json[]) => boolean,
  timeoutMs = 5_000,
): Promise<Json[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { items } = await agency.client.request<{ items: Json[] }>('GET', '/v1/inbox?limit=200')
    if (predicate(items) || Date.now() > deadline) return items
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
