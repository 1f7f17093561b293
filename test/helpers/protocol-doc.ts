import { readFile } from 'node:fs/promises'

/**
 * The worked examples of docs/protocol.md: every fenced block whose info string carries
 * `example:<name>` (```json example:receipt-header), by name, as the text between the fences.
 * Remembers which were read, so a test can fail when a tagged example is left unchecked.
 */
export class ProtocolExamples {
  readonly read = new Set<string>()

  private constructor(readonly blocks: ReadonlyMap<string, string>) {}

  static async load(): Promise<ProtocolExamples> {
    const text = await readFile(new URL('../../docs/protocol.md', import.meta.url), 'utf8')
    const blocks = new Map<string, string>()
    for (const match of text.matchAll(/^```[^\n]*?\bexample:([a-z0-9-]+)[^\n]*\n([\s\S]*?)\n```$/gm)) {
      const [, name, body] = match
      if (blocks.has(name!)) throw new Error(`docs/protocol.md: example:${name} appears twice`)
      blocks.set(name!, body!)
    }
    return new ProtocolExamples(blocks)
  }

  /** The block's text, exactly (no trailing newline). */
  text(name: string): string {
    const body = this.blocks.get(name)
    if (body === undefined) throw new Error(`docs/protocol.md has no example:${name}`)
    this.read.add(name)
    return body
  }

  // biome-ignore lint/suspicious/noExplicitAny: the page's JSON, checked member by member by the tests
  json<T = Record<string, any>>(name: string): T {
    return JSON.parse(this.text(name)) as T
  }

  unchecked(): string[] {
    return [...this.blocks.keys()].filter((name) => !this.read.has(name))
  }
}
