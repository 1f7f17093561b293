import { useEffect, useState } from 'preact/hooks'
import { hasEntry, useI18n } from '../i18n.js'
import type { Agency, AuditEvent, AuditTrail, Hub } from '../lib/hub.js'
import { CHECKPOINT_TYP, checkpointCovers, eventHashHolds } from '../lib/trail.js'
import { type Check, verifyHubStatement } from '../lib/verify.js'
import { CheckBadge, ErrorMessage, Loading, Section, useDates } from './common.js'

interface CheckedTrail {
  trail: AuditTrail
  events: { event: AuditEvent; hash: Check; link: Check | undefined }[]
  checkpoint: Check | undefined
  actors: Map<string, Agency>
}

/**
 * A referral's audit trail with the checks this browser can make with what the API returns: each
 * event's hash recomputed from its content and prevHash, consecutive events linked, the covering
 * checkpoint's hub signature. Proving that these events are in the whole log needs inclusion proofs,
 * which this hub does not offer yet; the page says so.
 */
async function check(hub: Hub, id: string): Promise<CheckedTrail> {
  const [trail, hubJwks] = await Promise.all([hub.trail(id), hub.hubJwks()])
  const events = await Promise.all(
    trail.events.map(async (event, index) => {
      const previous = trail.events[index - 1]
      const hash: Check = (await eventHashHolds(event)) ? { ok: true } : { ok: false, reason: 'hash' }
      // Only neighbours in the whole log can be linked; others are other agencies' events in between.
      const link: Check | undefined =
        previous && previous.seq === event.seq - 1
          ? previous.hash === event.prevHash
            ? { ok: true }
            : { ok: false, reason: 'prevHash' }
          : undefined
      return { event, hash, link }
    }),
  )
  let checkpoint: Check | undefined
  if (trail.checkpoint) {
    const verified = await verifyHubStatement<{ seq?: unknown; hash?: unknown }>(
      trail.checkpoint.jws,
      CHECKPOINT_TYP,
      hubJwks,
    )
    const lastSeq = Math.max(0, ...trail.events.map((event) => event.seq))
    checkpoint = !verified.check.ok
      ? verified.check
      : checkpointCovers(verified.claims, trail.checkpoint, lastSeq)
        ? { ok: true }
        : { ok: false, reason: 'claims' }
  }
  const actors = new Map<string, Agency>()
  for (const actor of new Set(trail.events.map((event) => event.actor))) {
    const agency = await hub.agency(actor).catch(() => undefined)
    if (agency) actors.set(actor, agency)
  }
  return { trail, events, checkpoint, actors }
}

export function Trail(props: { hub: Hub; id: string }) {
  const { t } = useI18n()
  const date = useDates()
  const [checked, setChecked] = useState<CheckedTrail | undefined>()
  const [error, setError] = useState<unknown>()
  useEffect(() => {
    check(props.hub, props.id).then(setChecked, setError)
  }, [props.hub, props.id])

  const allHold = checked?.events.every(({ hash, link }) => hash.ok && (link?.ok ?? true))
  return (
    <div>
      <h1 tabIndex={-1}>{t('trail.title')}</h1>
      <p>
        <a href={`#/referral/${props.id}`}>{t('trail.back')}</a>
      </p>
      <ErrorMessage error={error} />
      {!checked && !error && <Loading />}
      {checked && (
        <>
          <Section title={t('verify.title')} id="trail-checks">
            <ul class="checks">
              <CheckBadge
                check={
                  checked.events.length === 0
                    ? undefined
                    : allHold
                      ? { ok: true }
                      : { ok: false, reason: 'hash' }
                }
                label={t('trail.eventHashes', { count: checked.events.length })}
                testId="trail-hashes"
              />
              {checked.checkpoint ? (
                <CheckBadge
                  check={checked.checkpoint}
                  label={t('trail.checkpoint')}
                  testId="trail-checkpoint"
                />
              ) : (
                <li class="check check-pending">{t('trail.noCheckpoint')}</li>
              )}
            </ul>
            {checked.trail.pending > 0 && (
              <p class="muted">{t('trail.pending', { count: checked.trail.pending })}</p>
            )}
            <p class="muted">{t('trail.inclusionNotYet')}</p>
          </Section>
          <Section title={t('trail.events')} id="trail-events">
            <ol class="events" data-testid="trail-events">
              {checked.events.map(({ event, hash, link }) => (
                <li key={event.seq}>
                  <p>
                    <span class="mono">#{event.seq}</span>{' '}
                    <strong>
                      {hasEntry('en', `code.auditAction.${event.action}`)
                        ? t(`code.auditAction.${event.action}`)
                        : event.action}
                    </strong>{' '}
                    · {checked.actors.get(event.actor)?.name ?? event.actor} ·{' '}
                    <time dateTime={event.at}>{date(event.at)}</time> ·{' '}
                    {t(`code.auditOutcome.${event.outcome}`)}
                  </p>
                  <ul class="checks">
                    <CheckBadge check={hash} label={t('trail.hash')} />
                    {link && <CheckBadge check={link} label={t('trail.link')} />}
                  </ul>
                </li>
              ))}
            </ol>
          </Section>
        </>
      )}
    </div>
  )
}
