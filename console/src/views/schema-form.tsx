import { useState } from 'preact/hooks'
import { hasEntry, useI18n } from '../i18n.js'
import { sortedCodes } from '../lib/codes.js'
import type { JsonSchema } from '../lib/hub.js'
import { FILLED_BY_CONSOLE, type FieldKind, type FormValue, fieldKind, getIn } from '../lib/schema-walk.js'

export interface FieldState {
  value: FormValue
  onChange: (path: string[], next: unknown) => void
  /** Pointer → message key. */
  errors: Map<string, string>
  /** Pointers of fields a rule has decided (shown, not editable), with the message key saying why. */
  locked: Map<string, string>
}

const idOf = (path: string[]) => `f-${path.join('-')}`
const pointerOf = (path: string[]) => `/${path.join('/')}`

/** The form for an object schema: each property by its kind, labels and code lists translated. */
export function SchemaFields(props: { schema: JsonSchema; path: string[]; state: FieldState }) {
  const field = fieldKind(props.schema)
  if (field.kind !== 'object') return null
  return (
    <>
      {field.properties.map(([name, child]) => {
        const path = [...props.path, name]
        if (FILLED_BY_CONSOLE.has(path.join('.'))) return null
        const required = props.schema.required?.includes(name) ?? false
        return <Field key={name} schema={child} path={path} required={required} state={props.state} />
      })}
    </>
  )
}

function Field(props: { schema: JsonSchema; path: string[]; required: boolean; state: FieldState }) {
  const { t, language } = useI18n()
  const { path, state } = props
  const field = fieldKind(props.schema)
  const dotted = path.join('.')
  const id = idOf(path)
  const pointer = pointerOf(path)
  const label = t(`field.${dotted}`)
  const hintKey = `hint.${dotted}`
  const error = state.errors.get(pointer)
  const lockedBecause = state.locked.get(pointer)
  const value = getIn(state.value, path)
  const set = (next: unknown) => state.onChange(path, next)
  const describedBy =
    [
      hasEntry('en', hintKey) ? `${id}-hint` : '',
      error ? `${id}-error` : '',
      lockedBecause ? `${id}-lock` : '',
    ]
      .filter(Boolean)
      .join(' ') || undefined
  const extras = (
    <>
      {hasEntry('en', hintKey) && (
        <p class="hint" id={`${id}-hint`}>
          {t(hintKey)}
        </p>
      )}
      {lockedBecause && (
        <p class="hint" id={`${id}-lock`}>
          {t(lockedBecause)}
        </p>
      )}
      {error && (
        <p class="error" id={`${id}-error`}>
          {t(error)}
        </p>
      )}
    </>
  )
  const aria = {
    'aria-describedby': describedBy,
    'aria-invalid': error ? true : undefined,
    'aria-required': props.required ? true : undefined,
  }
  const groupAria = { 'aria-describedby': describedBy }

  switch (field.kind) {
    case 'object':
      return (
        <fieldset class="group" id={id}>
          <legend>{label}</legend>
          <SchemaFields schema={props.schema} path={path} state={state} />
        </fieldset>
      )
    case 'enum':
      if (field.values.length <= 4) {
        return (
          <fieldset class="choices" id={id} {...groupAria}>
            <legend>
              {label}
              {props.required && <RequiredMark group />}
            </legend>
            {field.values.map((option) => (
              <label key={option} class="choice">
                <input
                  type="radio"
                  name={id}
                  value={option}
                  checked={value === option}
                  onChange={() => set(option)}
                />
                {t(`code.${dotted}.${option}`)}
              </label>
            ))}
            {extras}
          </fieldset>
        )
      }
      return (
        <div class="field">
          <label for={id}>
            {label}
            {props.required && <RequiredMark />}
          </label>
          <select
            id={id}
            value={String(value)}
            onChange={(event) => set(event.currentTarget.value)}
            {...aria}
          >
            <option value="">{t('form.choose')}</option>
            {field.values.map((option) => (
              <option key={option} value={option}>
                {t(`code.${dotted}.${option}`)}
              </option>
            ))}
          </select>
          {extras}
        </div>
      )
    case 'enumList': {
      const chosen = (value as string[]) ?? []
      return (
        <fieldset class="choices" id={id} {...groupAria}>
          <legend>
            {label}
            {field.minItems > 0 && <RequiredMark group />}
          </legend>
          <div class="checkbox-grid">
            {field.values.map((option) => (
              <label key={option} class="choice">
                <input
                  type="checkbox"
                  checked={chosen.includes(option)}
                  onChange={(event) =>
                    set(
                      event.currentTarget.checked
                        ? [...chosen, option]
                        : chosen.filter((item) => item !== option),
                    )
                  }
                />
                {t(`code.${dotted}.${option}`)}
              </label>
            ))}
          </div>
          {extras}
        </fieldset>
      )
    }
    case 'boolean':
      return (
        <div class="field">
          <label class="choice">
            <input
              id={id}
              type="checkbox"
              checked={value === true}
              disabled={lockedBecause !== undefined}
              onChange={(event) => set(event.currentTarget.checked)}
              aria-describedby={describedBy}
              aria-invalid={error ? true : undefined}
            />
            {label}
          </label>
          {extras}
        </div>
      )
    case 'country':
    case 'language': {
      const kind = field.kind === 'country' ? 'region' : 'language'
      return (
        <div class="field">
          <label for={id}>
            {label}
            {props.required && <RequiredMark />}
          </label>
          <select
            id={id}
            value={String(value)}
            onChange={(event) => set(event.currentTarget.value)}
            {...aria}
          >
            <option value="">{t('form.choose')}</option>
            {sortedCodes(kind, language).map(({ code, name }) => (
              <option key={code} value={code}>
                {name}
              </option>
            ))}
          </select>
          {extras}
        </div>
      )
    }
    case 'countryList':
    case 'languageList':
      return (
        <CodePicker
          id={id}
          label={label}
          field={field}
          chosen={(value as string[]) ?? []}
          onChange={set}
          extras={extras}
          aria={groupAria}
        />
      )
    case 'text':
      return (
        <div class="field">
          <label for={id}>
            {label}
            {props.required && <RequiredMark />}
          </label>
          <input
            id={id}
            value={String(value ?? '')}
            maxLength={field.maxLength}
            autoComplete="off"
            spellcheck={false}
            onInput={(event) => set(event.currentTarget.value)}
            {...aria}
          />
          {extras}
        </div>
      )
    default:
      return null
  }
}

/** The asterisk is for the eye; controls say `required` themselves, groups say it in words. */
function RequiredMark(props: { group?: boolean }) {
  const { t } = useI18n()
  return (
    <span class="required">
      <span aria-hidden="true"> *</span>
      {props.group && <span class="visually-hidden"> ({t('form.requiredMark')})</span>}
    </span>
  )
}

/** A list of countries or languages: choose one, add it; each added one can be removed. */
function CodePicker(props: {
  id: string
  label: string
  field: Extract<FieldKind, { kind: 'countryList' | 'languageList' }>
  chosen: string[]
  onChange: (next: string[]) => void
  extras: preact.JSX.Element
  aria: Record<string, unknown>
}) {
  const { t, language } = useI18n()
  const [candidate, setCandidate] = useState('')
  const kind = props.field.kind === 'countryList' ? 'region' : 'language'
  const codes = sortedCodes(kind, language)
  const nameOf = (code: string) => codes.find((entry) => entry.code === code)?.name ?? code
  const full = props.chosen.length >= props.field.maxItems
  return (
    <fieldset class="choices" id={props.id} {...props.aria}>
      <legend>
        {props.label}
        {props.field.minItems > 0 && <RequiredMark group />}
      </legend>
      {props.chosen.length > 0 && (
        <ul class="chips">
          {props.chosen.map((code) => (
            <li key={code}>
              {nameOf(code)}{' '}
              <button
                type="button"
                class="chip-remove"
                aria-label={t('form.remove', { name: nameOf(code) })}
                onClick={() => props.onChange(props.chosen.filter((item) => item !== code))}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      <div class="picker">
        <label for={`${props.id}-add`} class="visually-hidden">
          {t(kind === 'region' ? 'form.addCountryTo' : 'form.addLanguageTo', { field: props.label })}
        </label>
        <select
          id={`${props.id}-add`}
          value={candidate}
          disabled={full}
          onChange={(event) => setCandidate(event.currentTarget.value)}
        >
          <option value="">{t('form.choose')}</option>
          {codes
            .filter(({ code }) => !props.chosen.includes(code))
            .map(({ code, name }) => (
              <option key={code} value={code}>
                {name}
              </option>
            ))}
        </select>
        <button
          type="button"
          class="secondary"
          disabled={candidate === '' || full}
          aria-label={t(kind === 'region' ? 'form.addCountryTo' : 'form.addLanguageTo', {
            field: props.label,
          })}
          onClick={() => {
            props.onChange([...props.chosen, candidate])
            setCandidate('')
          }}
        >
          {t('form.add')}
        </button>
      </div>
      {props.extras}
    </fieldset>
  )
}
