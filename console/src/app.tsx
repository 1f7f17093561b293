import { useEffect, useMemo, useState } from 'preact/hooks'
import { I18n, initialLanguage, type Language, rememberLanguage, translator } from './i18n.js'
import { type Device, loadDevice } from './lib/device.js'
import { connect, type Hub } from './lib/hub.js'
import { Header } from './views/header.js'
import { Inbox } from './views/inbox.js'
import { NewReferral } from './views/new-referral.js'
import { ReferralPage } from './views/referral.js'
import { Setup } from './views/setup.js'
import { Trail } from './views/trail.js'

type Route =
  | { name: 'inbox' }
  | { name: 'new' }
  | { name: 'referral'; id: string }
  | { name: 'trail'; id: string }

function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/')
  if (parts[0] === 'new') return { name: 'new' }
  if (parts[0] === 'referral' && parts[1]) {
    return parts[2] === 'trail' ? { name: 'trail', id: parts[1] } : { name: 'referral', id: parts[1] }
  }
  return { name: 'inbox' }
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash))
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(window.location.hash))
    window.addEventListener('hashchange', onChange)
    return () => window.removeEventListener('hashchange', onChange)
  }, [])
  return route
}

export function App() {
  const [language, setLanguage] = useState<Language>(initialLanguage)
  const i18n = useMemo(() => ({ language, t: translator(language) }), [language])
  const [device, setDevice] = useState<Device | null | undefined>(undefined)
  const hub = useMemo<Hub | undefined>(() => (device ? connect(device) : undefined), [device])
  const route = useRoute()

  useEffect(() => {
    rememberLanguage(language)
    document.title = i18n.t('app.title')
  }, [language, i18n])
  useEffect(() => {
    loadDevice().then((found) => setDevice(found ?? null))
  }, [])

  // Each view gets its own heading; moving focus there tells screen readers the page changed.
  useEffect(() => {
    document.querySelector<HTMLElement>('main h1')?.focus()
  }, [route, device])

  let view = null
  if (device === null) view = <Setup onReady={setDevice} />
  else if (hub && route.name === 'inbox') view = <Inbox hub={hub} />
  else if (hub && route.name === 'new') view = <NewReferral hub={hub} />
  else if (hub && route.name === 'referral') view = <ReferralPage key={route.id} hub={hub} id={route.id} />
  else if (hub && route.name === 'trail') view = <Trail key={route.id} hub={hub} id={route.id} />

  return (
    <I18n.Provider value={i18n}>
      <button
        type="button"
        class="skip"
        onClick={() => document.querySelector<HTMLElement>('main h1')?.focus()}
      >
        {i18n.t('app.skip')}
      </button>
      <Header hub={hub} language={language} onLanguage={setLanguage} onForget={() => setDevice(null)} />
      <main id="main">{view}</main>
    </I18n.Provider>
  )
}
