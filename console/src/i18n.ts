import { createContext } from 'preact'
import { useContext } from 'preact/hooks'

/**
 * Every label, state and message comes from src/i18n/<language>.json: plain JSON a translator edits
 * without touching code. A missing entry falls back to English, then to its key.
 */
type Messages = { [key: string]: string | Messages }
const files = import.meta.glob<Messages>('./i18n/*.json', { eager: true, import: 'default' })

export const LANGUAGES = ['en', 'ro', 'de', 'uk', 'it', 'fr', 'es'] as const
export type Language = (typeof LANGUAGES)[number]

const catalog = Object.fromEntries(
  Object.entries(files).map(([path, messages]) => [path.replace(/^.*\/(\w+)\.json$/, '$1'), messages]),
) as Record<Language, Messages>

function lookup(messages: Messages | undefined, key: string): string | undefined {
  let node: string | Messages | undefined = messages
  for (const part of key.split('.')) {
    if (node === undefined || typeof node === 'string') return undefined
    node = node[part]
  }
  // An entry that is both a label and a group of labels ("victim") keeps its own text under "_".
  if (node !== undefined && typeof node !== 'string') node = node['_']
  return typeof node === 'string' ? node : undefined
}

export type Translate = (key: string, values?: Record<string, string | number>) => string

export function translator(language: Language): Translate {
  return (key, values) => {
    const text = lookup(catalog[language], key) ?? lookup(catalog.en, key) ?? key
    return values ? text.replace(/\{(\w+)\}/g, (match, name: string) => String(values[name] ?? match)) : text
  }
}

/** True when the language's file has the entry itself (not through the English fallback). */
export const hasEntry = (language: Language, key: string) => lookup(catalog[language], key) !== undefined

const STORAGE_KEY = 'trm-console-language'

export function initialLanguage(): Language {
  const saved = localStorage.getItem(STORAGE_KEY)
  if (saved && (LANGUAGES as readonly string[]).includes(saved)) return saved as Language
  const preferred = navigator.languages.map((tag) => tag.slice(0, 2))
  return (preferred.find((tag) => (LANGUAGES as readonly string[]).includes(tag)) as Language) ?? 'en'
}

export function rememberLanguage(language: Language) {
  localStorage.setItem(STORAGE_KEY, language)
  document.documentElement.lang = language
}

export const I18n = createContext<{ language: Language; t: Translate }>({
  language: 'en',
  t: translator('en'),
})
export const useI18n = () => useContext(I18n)
