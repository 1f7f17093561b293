import { useEffect, useState } from 'preact/hooks'
import { LANGUAGES, type Language, useI18n } from '../i18n.js'
import { forgetDevice } from '../lib/device.js'
import type { Agency, Hub } from '../lib/hub.js'

/** Language names in their own language: a reader finds theirs whatever is shown now. */
const ENDONYMS: Record<Language, string> = {
  en: 'English',
  ro: 'Română',
  de: 'Deutsch',
  uk: 'Українська',
  it: 'Italiano',
  fr: 'Français',
  es: 'Español',
}

export function Header(props: {
  hub: Hub | undefined
  language: Language
  onLanguage: (language: Language) => void
  onForget: () => void
}) {
  const { t } = useI18n()
  const [agency, setAgency] = useState<Agency | undefined>()
  const [confirming, setConfirming] = useState(false)

  useEffect(() => {
    setAgency(undefined)
    props.hub
      ?.agency(props.hub.device.agencyId)
      .then(setAgency)
      .catch(() => undefined)
  }, [props.hub])

  async function forget() {
    await forgetDevice()
    setConfirming(false)
    window.location.hash = '#/'
    props.onForget()
  }

  return (
    <header class="top">
      <div class="brand">
        <span class="title">{t('app.title')}</span>
        {agency && (
          <span class="agency" data-testid="agency-name">
            {agency.name} · {agency.country}
          </span>
        )}
      </div>
      {props.hub && (
        <nav aria-label={t('nav.label')}>
          <a href="#/">{t('nav.inbox')}</a>
          <a href="#/new">{t('nav.newReferral')}</a>
        </nav>
      )}
      <div class="tools">
        <label for="language">{t('app.language')}</label>
        <select
          id="language"
          value={props.language}
          onChange={(event) => props.onLanguage(event.currentTarget.value as Language)}
        >
          {LANGUAGES.map((code) => (
            <option key={code} value={code} lang={code}>
              {ENDONYMS[code]}
            </option>
          ))}
        </select>
        {props.hub && !confirming && (
          <button type="button" class="secondary" onClick={() => setConfirming(true)}>
            {t('device.forget')}
          </button>
        )}
      </div>
      {confirming && (
        <div class="confirm" role="alertdialog" aria-labelledby="forget-question">
          <p id="forget-question">{t('device.forgetQuestion')}</p>
          <button type="button" class="danger" onClick={forget}>
            {t('device.forgetConfirm')}
          </button>
          <button type="button" class="secondary" onClick={() => setConfirming(false)}>
            {t('common.cancel')}
          </button>
        </div>
      )}
    </header>
  )
}
