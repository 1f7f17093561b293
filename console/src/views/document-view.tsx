import { useI18n } from '../i18n.js'
import { codeName } from '../lib/codes.js'
import type { JsonSchema } from '../lib/hub.js'
import { FILLED_BY_CONSOLE, type FormValue, fieldKind } from '../lib/schema-walk.js'
import { useDates } from './common.js'

/** A signed document's clear members, labelled from the same schema and translations as the form. */
export function DocumentView(props: { schema: JsonSchema; document: FormValue; path?: string[] }) {
  const { t, language } = useI18n()
  const date = useDates()
  const path = props.path ?? []
  const field = fieldKind(props.schema)
  if (field.kind !== 'object') return null
  return (
    <dl class="document">
      {field.properties.map(([name, child]) => {
        const childPath = [...path, name]
        const dotted = childPath.join('.')
        const value = props.document[name]
        if (value === undefined || (FILLED_BY_CONSOLE.has(dotted) && dotted !== 'consent.recordedAt')) {
          return null
        }
        const kind = fieldKind(child)
        let shown: preact.ComponentChildren
        switch (kind.kind) {
          case 'object':
            shown = <DocumentView schema={child} document={value as FormValue} path={childPath} />
            break
          case 'enum':
            shown = t(`code.${dotted}.${value}`)
            break
          case 'enumList':
            shown = listOf(
              (value as string[]).map((item) => t(`code.${dotted}.${item}`)),
              t,
            )
            break
          case 'country':
            shown = codeName('region', String(value), language)
            break
          case 'countryList':
            shown = listOf(
              (value as string[]).map((code) => codeName('region', code, language)),
              t,
            )
            break
          case 'languageList':
            shown = listOf(
              (value as string[]).map((code) => codeName('language', code, language)),
              t,
            )
            break
          case 'boolean':
            shown = t(value ? 'common.yes' : 'common.no')
            break
          case 'dateTime':
            shown = date(String(value))
            break
          default:
            shown = String(value)
        }
        return (
          <div key={name} class={kind.kind === 'object' ? 'nested' : undefined}>
            <dt>{t(`field.${dotted}`)}</dt>
            <dd>{shown}</dd>
          </div>
        )
      })}
    </dl>
  )
}

const listOf = (items: string[], t: (key: string) => string) =>
  items.length === 0 ? t('common.none') : items.join(', ')
