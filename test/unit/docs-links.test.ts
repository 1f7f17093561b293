import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

// The README and docs/ link only inside the repository, and every link lands: the file exists and,
// for a #fragment, the page has a heading with that GitHub anchor.

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const PAGES = ['README.md', 'docs/protocol.md', 'docs/operations.md', 'examples/python/README.md']

/** GitHub's heading anchor: lowercase, punctuation dropped, spaces to hyphens. */
const anchor = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')

function anchors(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```$/gm, '')
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1]!)))
}

for (const page of PAGES) {
  t.test(page, async (t) => {
    const file = path.join(ROOT, page)
    const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```$/gm, '')
    const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!)
    t.ok(links.length > 0, 'the page has links')
    for (const link of links) {
      t.notMatch(link, /^[a-z][a-z0-9+.-]*:/i, `${link} stays inside the repository`)
      const [target, fragment] = link.split('#') as [string, string | undefined]
      const resolved = target === '' ? file : path.resolve(path.dirname(file), target)
      t.ok(
        resolved.startsWith(ROOT) && existsSync(resolved),
        `${link}: ${path.relative(ROOT, resolved)} exists`,
      )
      if (fragment && resolved.endsWith('.md') && existsSync(resolved)) {
        t.ok(anchors(resolved).has(fragment), `${link}: the heading #${fragment} exists`)
      }
    }
  })
}
