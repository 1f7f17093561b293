import { useI18n } from '../i18n.js'

/**
 * The identifying details a case worker may add. They never reach the hub in clear: the console
 * encrypts them to the recipient's key (the `sensitive` JWE) before signing.
 */
export const SENSITIVE_FIELDS = [
  'givenName',
  'familyName',
  'dateOfBirth',
  'identityDocuments',
  'contact',
  'narrative',
] as const
export type SensitiveField = (typeof SENSITIVE_FIELDS)[number]
export type SensitiveDetails = Partial<Record<SensitiveField, string>>

export function SensitiveFields(props: {
  value: SensitiveDetails
  onChange: (value: SensitiveDetails) => void
}) {
  const { t } = useI18n()
  const set = (name: SensitiveField, text: string) => props.onChange({ ...props.value, [name]: text })
  return (
    <fieldset class="group sensitive">
      <legend>{t('sensitive.legend')}</legend>
      <p class="hint">{t('sensitive.hint')}</p>
      {SENSITIVE_FIELDS.map((name) => {
        const id = `s-${name}`
        const common = {
          id,
          value: props.value[name] ?? '',
          autoComplete: 'off',
          onInput: (event: Event) => set(name, (event.currentTarget as HTMLInputElement).value),
        }
        return (
          <div class="field" key={name}>
            <label for={id}>{t(`sensitive.${name}`)}</label>
            {name === 'narrative' ? (
              <textarea {...common} rows={5} maxLength={20_000} />
            ) : name === 'dateOfBirth' ? (
              <input {...common} type="date" />
            ) : (
              <input {...common} maxLength={500} spellcheck={false} />
            )}
          </div>
        )
      })}
    </fieldset>
  )
}
