import { useCallback, useEffect, useState } from 'preact/hooks'
import { useI18n } from '../i18n.js'
import { codeName } from '../lib/codes.js'
import type { Hub, InboxItem, ReferralSummary } from '../lib/hub.js'
import { ErrorMessage, Loading, useDates } from './common.js'

/** How long one long-poll may wait (the hub allows up to 30 s). */
const WAIT_SECONDS = 25
const RETRY_MS = 5_000

const URGENCY_ORDER = { immediate: 0, urgent: 1, routine: 2 } as const

/**
 * Long-polls the inbox while open: each message is confirmed (the referral becomes `delivered`) and the
 * list of referrals is read again. Referrals waiting for this agency come first, by urgency and deadline.
 */
export function Inbox(props: { hub: Hub }) {
  const { hub } = props
  const { t } = useI18n()
  const date = useDates()
  const [referrals, setReferrals] = useState<ReferralSummary[] | undefined>()
  const [messages, setMessages] = useState<InboxItem[]>([])
  const [listening, setListening] = useState(false)
  const [error, setError] = useState<unknown>()

  const refresh = useCallback(async () => {
    try {
      setReferrals(await hub.referrals())
      setError(undefined)
    } catch (caught) {
      setError(caught)
    }
  }, [hub])

  useEffect(() => {
    const stop = new AbortController()
    let retry: ReturnType<typeof setTimeout> | undefined
    async function poll(): Promise<void> {
      while (!stop.signal.aborted) {
        setListening(true)
        const page = await hub.inbox(WAIT_SECONDS, stop.signal)
        if (stop.signal.aborted) return
        const last = page.items.at(-1)
        if (last) {
          // A message seen before (its confirmation failed, so it came again) is listed once.
          setMessages((shown) => {
            const fresh = page.items.filter((item) => !shown.some((seen) => seen.id === item.id))
            return [...fresh.reverse(), ...shown].slice(0, 50)
          })
          await hub.confirm(last.cursor)
          await refresh()
        }
      }
    }
    const run = () =>
      poll().catch((caught: unknown) => {
        if (stop.signal.aborted) return
        setListening(false)
        setError(caught)
        retry = setTimeout(run, RETRY_MS)
      })
    refresh().then(run)
    return () => {
      stop.abort()
      clearTimeout(retry)
    }
  }, [hub, refresh])

  const me = hub.device.agencyId
  const received = (referrals ?? [])
    .filter((referral) => referral.recipient.agencyId === me)
    .sort(
      (a, b) => URGENCY_ORDER[a.urgency] - URGENCY_ORDER[b.urgency] || a.ackDueAt.localeCompare(b.ackDueAt),
    )
  const sent = (referrals ?? []).filter((referral) => referral.sender.agencyId === me)

  return (
    <div>
      <h1 tabIndex={-1}>{t('inbox.title')}</h1>
      <p class="muted" role="status" data-testid="listening">
        {listening ? t('inbox.listening') : t('inbox.notListening')}
      </p>
      <ErrorMessage error={error} />
      {referrals === undefined ? (
        <Loading />
      ) : (
        <div class="columns">
          <ReferralList title={t('inbox.received')} referrals={received} direction="received" date={date} />
          <ReferralList title={t('inbox.sent')} referrals={sent} direction="sent" date={date} />
        </div>
      )}
      <section class="card" aria-labelledby="messages-title">
        <h2 id="messages-title">{t('inbox.messages')}</h2>
        {messages.length === 0 ? (
          <p class="muted">{t('inbox.noMessages')}</p>
        ) : (
          <ul class="messages" data-testid="messages">
            {messages.map((message) => (
              <li key={message.id}>
                <span class="tag">{t(`code.inboxType.${message.type}`)}</span>{' '}
                <a href={`#/referral/${message.referralId}`}>{t('inbox.openReferral')}</a>{' '}
                <time dateTime={message.createdAt}>{date(message.createdAt)}</time>
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  )
}

function ReferralList(props: {
  title: string
  referrals: ReferralSummary[]
  direction: 'received' | 'sent'
  date: (iso: string | null | undefined) => string
}) {
  const { t, language } = useI18n()
  const id = `list-${props.direction}`
  return (
    <section class="card" aria-labelledby={id}>
      <h2 id={id}>
        {props.title} <span class="count">({props.referrals.length})</span>
      </h2>
      {props.referrals.length === 0 ? (
        <p class="muted">{t('inbox.none')}</p>
      ) : (
        <ul class="referrals" data-testid={`referrals-${props.direction}`}>
          {props.referrals.map((referral) => {
            const other = props.direction === 'received' ? referral.sender : referral.recipient
            return (
              <li key={referral.id} class={`referral urgency-${referral.urgency}`}>
                <a href={`#/referral/${referral.id}`} class="reference">
                  {referral.victimReference}
                </a>
                <dl class="facts">
                  <div>
                    <dt>{t('field.urgency')}</dt>
                    <dd>
                      <span class={`tag urgency urgency-${referral.urgency}`}>
                        {t(`code.urgency.${referral.urgency}`)}
                      </span>
                      {referral.minor && <span class="tag minor">{t('referral.minor')}</span>}
                    </dd>
                  </div>
                  <div>
                    <dt>{t('referral.status')}</dt>
                    <dd data-testid="status">{t(`code.status.${referral.status}`)}</dd>
                  </div>
                  <div>
                    <dt>{t('referral.deadline')}</dt>
                    <dd>
                      <time dateTime={referral.ackDueAt}>{props.date(referral.ackDueAt)}</time>
                      {referral.overdue && <span class="tag overdue">{t('referral.overdue')}</span>}
                    </dd>
                  </div>
                  <div>
                    <dt>{t(props.direction === 'received' ? 'referral.from' : 'referral.to')}</dt>
                    <dd>{codeName('region', other.country, language)}</dd>
                  </div>
                  <div>
                    <dt>{t('field.stage')}</dt>
                    <dd>{t(`code.stage.${referral.stage}`)}</dd>
                  </div>
                </dl>
              </li>
            )
          })}
        </ul>
      )}
    </section>
  )
}
