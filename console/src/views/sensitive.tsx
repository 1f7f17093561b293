import type { SensitiveDetails } from '../../../src/lib/sensitive-details.js'
import {
  SENSITIVE_CONTACT_CHANNELS,
  SENSITIVE_DOCUMENT_TYPES,
  SENSITIVE_SEX,
} from '../../../src/lib/sensitive-details.js'
import { useI18n } from '../i18n.js'

/**
 * The identifying details a case worker may add, as the hub's SensitiveDetails (src/lib/sensitive-
 * details.ts): they never reach the hub in clear. The console encrypts them to the recipient's key
 * (the `sensitive` JWE, checked against that schema by src/sdk) before signing.
 */
export interface SensitiveForm {
  givenNames: string
  familyNames: string
  dateOfBirth: string
  sex: string
  documentType: string
  documentNumber: string
  contactChannel: string
  contactValue: string
  narrative: string
}

export const EMPTY_SENSITIVE: SensitiveForm = {
  givenNames: '',
  familyNames: '',
  dateOfBirth: '',
  sex: '',
  documentType: '',
  documentNumber: '',
  contactChannel: '',
  contactValue: '',
  narrative: '',
}

/** The form as SensitiveDetails, or undefined when nothing identifying was entered. */
export function sensitiveDetails(form: SensitiveForm): SensitiveDetails | undefined {
  const text = (value: string) => value.trim() || undefined
  const person = Object.fromEntries(
    Object.entries({
      givenNames: text(form.givenNames),
      familyNames: text(form.familyNames),
      dateOfBirth: text(form.dateOfBirth),
      sex: text(form.sex),
    }).filter(([, value]) => value !== undefined),
  )
  const details = {
    ...(Object.keys(person).length > 0 ? { person } : {}),
    ...(text(form.documentNumber)
      ? { identityDocuments: [{ type: form.documentType || 'other', number: form.documentNumber.trim() }] }
      : {}),
    ...(text(form.contactValue)
      ? { contacts: [{ channel: form.contactChannel || 'other', value: form.contactValue.trim() }] }
      : {}),
    ...(text(form.narrative) ? { narrative: form.narrative.trim() } : {}),
  }
  return Object.keys(details).length > 0 ? (details as SensitiveDetails) : undefined
}

/** Decrypted details as labelled rows, whatever members of SensitiveDetails the sender filled. */
export function detailRows(
  details: SensitiveDetails,
  t: (key: string, values?: Record<string, string | number>) => string,
): { label: string; value: string }[] {
  const rows: { label: string; value: string }[] = []
  const code = (list: string, value: string) => t(`code.${list}.${value}`)
  for (const [name, value] of Object.entries(details.person ?? {})) {
    const shown =
      name === 'sex'
        ? code('victim.gender', String(value))
        : Array.isArray(value)
          ? value.join(', ')
          : String(value)
    rows.push({ label: t(`sensitive.${name}`), value: shown })
  }
  for (const document of details.identityDocuments ?? []) {
    const parts = [
      code('sensitive.documentType', document.type),
      document.number,
      document.issuingCountry,
      document.expiresOn,
      document.whereabouts,
    ]
    rows.push({ label: t('sensitive.identityDocument'), value: parts.filter(Boolean).join(' · ') })
  }
  for (const contact of details.contacts ?? []) {
    const parts = [code('sensitive.channel', contact.channel), contact.value, contact.label]
    rows.push({ label: t('sensitive.contact'), value: parts.filter(Boolean).join(' · ') })
  }
  for (const name of ['guardian', 'caseWorker'] as const) {
    const entry = details[name]
    if (entry)
      rows.push({ label: t(`sensitive.${name}`), value: Object.values(entry).filter(Boolean).join(' · ') })
  }
  for (const name of ['narrative', 'note', 'language'] as const) {
    const entry = details[name]
    if (entry) rows.push({ label: t(`sensitive.${name}`), value: entry })
  }
  return rows
}

export function SensitiveFields(props: { value: SensitiveForm; onChange: (value: SensitiveForm) => void }) {
  const { t } = useI18n()
  const set = (name: keyof SensitiveForm, text: string) => props.onChange({ ...props.value, [name]: text })
  const input = (name: keyof SensitiveForm, extra: Record<string, unknown> = {}) => (
    <div class="field">
      <label for={`s-${name}`}>{t(`sensitive.${name}`)}</label>
      <input
        id={`s-${name}`}
        value={props.value[name]}
        autoComplete="off"
        spellcheck={false}
        onInput={(event) => set(name, event.currentTarget.value)}
        {...extra}
      />
    </div>
  )
  const select = (name: keyof SensitiveForm, options: readonly string[], list: string) => (
    <div class="field">
      <label for={`s-${name}`}>{t(`sensitive.${name}`)}</label>
      <select
        id={`s-${name}`}
        value={props.value[name]}
        onChange={(event) => set(name, event.currentTarget.value)}
      >
        <option value="">{t('form.choose')}</option>
        {options.map((option) => (
          <option key={option} value={option}>
            {t(`code.${list}.${option}`)}
          </option>
        ))}
      </select>
    </div>
  )
  return (
    <fieldset class="group sensitive">
      <legend>{t('sensitive.legend')}</legend>
      <p class="hint">{t('sensitive.hint')}</p>
      {input('givenNames', { maxLength: 200 })}
      {input('familyNames', { maxLength: 200 })}
      {input('dateOfBirth', { type: 'date' })}
      {select('sex', SENSITIVE_SEX, 'victim.gender')}
      {select('documentType', SENSITIVE_DOCUMENT_TYPES, 'sensitive.documentType')}
      {input('documentNumber', { maxLength: 100 })}
      {select('contactChannel', SENSITIVE_CONTACT_CHANNELS, 'sensitive.channel')}
      {input('contactValue', { maxLength: 500 })}
      <div class="field">
        <label for="s-narrative">{t('sensitive.narrative')}</label>
        <textarea
          id="s-narrative"
          rows={5}
          maxLength={60_000}
          value={props.value.narrative}
          onInput={(event) => set('narrative', event.currentTarget.value)}
        />
      </div>
    </fieldset>
  )
}
