import { useEffect, useState } from 'preact/hooks'
import { hasEntry, useI18n } from '../i18n.js'
import type { Agency, AuditTrail, Hub } from '../lib/hub.js'
import { checkpointSigned, fromBase64, inclusionHolds, leafHash } from '../lib/trail.js'
import type { Check } from '../lib/verify.js'
import { CheckBadge, ErrorMessage, Loading, Section, useDates } from './common.js'

interface CheckedTrail {
  trail: AuditTrail
  events: { event: AuditTrail['events'][number]; hash: Check; inclusion: Check | undefined }[]
  checkpoint: Check | undefined
  actors: Map<string, Agency>
}

/**
 * A referral's audit trail with the checks this browser makes with what the API returns: each event's
 * leaf hash recomputed from its content, its inclusion proof against the checkpoint returned, and that
 * checkpoint's signed note verified with the hub's public key (WebCrypto, nothing trusted from the page).
 */
async function check(hub: Hub, id: string): Promise<CheckedTrail> {
  const [trail, hubJwks] = await Promise.all([hub.trail(id), hub.hubJwks()])
  const cp = trail.checkpoint
  const events = await Promise.all(
    trail.events.map(async (event) => {
      const leaf = await leafHash(event)
      const hash: Check =
        event.index === event.seq - 1 && sameBase64(leaf, event.leafHash)
          ? { ok: true }
          : { ok: false, reason: 'hash' }
      const inclusion: Check | undefined = cp
        ? (await inclusionHolds(
            leaf,
            event.index,
            cp.size,
            event.proof.map(fromBase64),
            fromBase64(cp.rootHash),
          ))
          ? { ok: true }
          : { ok: false, reason: 'inclusion' }
        : undefined
      return { event, hash, inclusion }
    }),
  )
  const checkpoint: Check | undefined = cp
    ? (await checkpointSigned(cp, hubJwks.keys))
      ? { ok: true }
      : { ok: false, reason: 'signature' }
    : undefined
  const actors = new Map<string, Agency>()
  for (const actor of new Set(trail.events.map((event) => event.actor))) {
    const agency = await hub.agency(actor).catch(() => undefined)
    if (agency) actors.set(actor, agency)
  }
  return { trail, events, checkpoint, actors }
}

const sameBase64 = (bytes: Uint8Array, text: string) => {
  const other = fromBase64(text)
  return other.length === bytes.length && other.every((b, i) => b === bytes[i])
}

export function Trail(props: { hub: Hub; id: string }) {
  const { t } = useI18n()
  const date = useDates()
  const [checked, setChecked] = useState<CheckedTrail | undefined>()
  const [error, setError] = useState<unknown>()
  useEffect(() => {
    check(props.hub, props.id).then(setChecked, setError)
  }, [props.hub, props.id])

  const allHold = checked?.events.every(({ hash, inclusion }) => hash.ok && (inclusion?.ok ?? true))
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
          </Section>
          <Section title={t('trail.events')} id="trail-events">
            <ol class="events" data-testid="trail-events">
              {checked.events.map(({ event, hash, inclusion }) => (
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
                    {inclusion && <CheckBadge check={inclusion} label={t('trail.inclusion')} />}
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
