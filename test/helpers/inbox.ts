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
    const items = await readAll(agency)
    if (predicate(items) || Date.now() > deadline) return items
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Every readable unconfirmed message, page after page. */
async function readAll(agency: TestAgency): Promise<Json[]> {
  const all: Json[] = []
  let after = ''
  for (;;) {
    const page = await agency.client.request<{ items: Json[]; next: string | null }>(
      'GET',
      `/v1/inbox?limit=200${after ? `&after=${after}` : ''}`,
    )
    all.push(...page.items)
    if (page.items.length < 200 || !page.next) return all
    after = page.next
  }
}
