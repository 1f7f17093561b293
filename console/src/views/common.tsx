import type { ComponentChildren } from 'preact'
import { useI18n } from '../i18n.js'
import { ApiError } from '../lib/hub.js'
import type { Check } from '../lib/verify.js'

/** A check shown as words and a symbol, never by colour alone. */
export function CheckBadge(props: { check: Check | undefined; label: string; testId?: string }) {
  const { t } = useI18n()
  const { check } = props
  const state = check === undefined ? 'pending' : check.ok ? 'ok' : 'failed'
  return (
    <li class={`check check-${state}`} data-testid={props.testId} data-state={state}>
      <span aria-hidden="true" class="check-mark">
        {state === 'ok' ? '✓' : state === 'failed' ? '✗' : '…'}
      </span>
      <span>
        {props.label}: <strong>{t(`verify.${state}`)}</strong>
        {check && !check.ok && <span class="reason"> ({check.reason})</span>}
      </span>
    </li>
  )
}

export function ErrorMessage(props: { error: unknown }) {
  const { t } = useI18n()
  if (!props.error) return null
  const { error } = props
  let text = t('error.unexpected')
  if (error instanceof ApiError) {
    const problem = error.problem
    text =
      error.status === 401
        ? t('error.unauthorized')
        : problem?.detail
          ? t('error.refused', { status: error.status, detail: problem.detail })
          : t('error.status', { status: error.status })
  }
  return (
    <p class="error" role="alert">
      {text}
    </p>
  )
}

export function Loading() {
  const { t } = useI18n()
  return (
    <p class="muted" role="status">
      {t('common.loading')}
    </p>
  )
}

export function Section(props: { title: string; children: ComponentChildren; id?: string }) {
  return (
    <section class="card" aria-labelledby={props.id}>
      <h2 id={props.id}>{props.title}</h2>
      {props.children}
    </section>
  )
}

export function useDates() {
  const { language } = useI18n()
  const format = new Intl.DateTimeFormat(language, { dateStyle: 'medium', timeStyle: 'short' })
  return (iso: string | null | undefined) => (iso ? format.format(new Date(iso)) : '—')
}
