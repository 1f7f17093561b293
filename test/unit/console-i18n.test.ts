import { readFile } from 'node:fs/promises'
import t from 'tap'
import {
  ACK_TYPES,
  CLOSE_OUTCOMES,
  DECLINE_REASONS,
  REFERRAL_STATUSES,
} from '../../src/modules/referrals/lifecycle.core.js'
import { ReferralDocumentSchema } from '../../src/modules/referrals/referral-document.schema.js'

// The console's translations (console/src/i18n/<language>.json) are edited by translators without
// code: each file must have every entry English has, with the same placeholders, and every code of
// the referral document's schema must have a label.
const LANGUAGES = ['en', 'ro', 'de', 'uk', 'it', 'fr', 'es']
type Messages = { [key: string]: string | Messages }

const load = async (language: string) =>
  JSON.parse(
    await readFile(new URL(`../../console/src/i18n/${language}.json`, import.meta.url), 'utf8'),
  ) as Messages

function flatten(messages: Messages, prefix = ''): Map<string, string> {
  const entries = new Map<string, string>()
  for (const [key, value] of Object.entries(messages)) {
    const path = prefix ? `${prefix}.${key}` : key
    if (typeof value === 'string') entries.set(path, value)
    else for (const [inner, text] of flatten(value, path)) entries.set(inner, text)
  }
  return entries
}

/** The label keys the console derives from the schema: field.<path> and code.<path>.<value>. */
function schemaKeys(schema: unknown, path: string[] = []): string[] {
  const node = schema as {
    type?: string
    properties?: Record<string, unknown>
    enum?: string[]
    items?: { enum?: string[] }
  }
  const dotted = path.join('.')
  const skip = ['id', 'sender', 'createdAt', 'recipient', 'onwardOf', 'sensitive', 'victim.linkageToken']
  if (skip.includes(dotted)) return []
  const keys: string[] = []
  if (node.type === 'object' && node.properties) {
    if (path.length > 0) keys.push(`field.${dotted}._`)
    for (const [name, child] of Object.entries(node.properties))
      keys.push(...schemaKeys(child, [...path, name]))
    return keys
  }
  keys.push(`field.${dotted}`)
  for (const value of node.enum ?? node.items?.enum ?? []) keys.push(`code.${dotted}.${value}`)
  return keys
}

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((match) => match[1]).sort()

t.test('every language has every entry English has, and no other', async (t) => {
  const english = flatten(await load('en'))
  t.ok(english.size > 200, `English has ${english.size} entries`)
  for (const language of LANGUAGES.slice(1)) {
    const entries = flatten(await load(language))
    t.same(
      [...english.keys()].filter((key) => !entries.has(key)),
      [],
      `${language}: nothing missing`,
    )
    t.same(
      [...entries.keys()].filter((key) => !english.has(key)),
      [],
      `${language}: nothing extra`,
    )
    const wrong = [...english].filter(([key, text]) => {
      const translated = entries.get(key)
      return translated !== undefined && placeholders(translated).join() !== placeholders(text).join()
    })
    t.same(
      wrong.map(([key]) => key),
      [],
      `${language}: the same {placeholders}`,
    )
    const empty = [...entries].filter(([, text]) => text.trim() === '').map(([key]) => key)
    t.same(empty, [], `${language}: no empty entry`)
    const same = [...entries].filter(
      ([key, text]) => key.startsWith('code.status.') && text === english.get(key),
    )
    t.ok(same.length < 3, `${language}: the states are translated, not copied (${same.length} alike)`)
  }
})

t.test('every field and code of the referral document has a label in every language', async (t) => {
  const wanted = [
    ...schemaKeys(ReferralDocumentSchema),
    ...REFERRAL_STATUSES.map((status) => `code.status.${status}`),
    ...ACK_TYPES.map((type) => `code.ackType.${type}`),
    ...DECLINE_REASONS.map((reason) => `code.reason.${reason}`),
    ...CLOSE_OUTCOMES.map((outcome) => `code.outcome.${outcome}`),
  ]
  t.ok(wanted.includes('code.exploitation.forms.forced_labour'), 'the schema walk reaches code lists')
  t.ok(wanted.includes('field.victim._'), 'and object labels')
  for (const language of LANGUAGES) {
    const entries = flatten(await load(language))
    t.same(
      wanted.filter((key) => !entries.has(key)),
      [],
      `${language}: all ${wanted.length} labels of fields, codes and states`,
    )
  }
})
