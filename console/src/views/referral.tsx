import { useCallback, useEffect, useState } from 'preact/hooks'
import type { SensitiveDetails } from '../../../src/lib/sensitive-details.js'
import { ACK_TYPES, type AckType, RULES } from '../../../src/modules/referrals/lifecycle.core.js'
import { decryptSensitive } from '../../../src/sdk/documents.js'
import { useI18n } from '../i18n.js'
import type { Agency, Hub, JsonSchema, ReferralView } from '../lib/hub.js'
import { fetchDocumentSchemas } from '../lib/hub.js'
import type { FormValue } from '../lib/schema-walk.js'
import { type Check, type SignedDocument, verifyReceiptOf, verifySigned } from '../lib/verify.js'
import { AcknowledgeForm } from './acknowledge.js'
import { CheckBadge, ErrorMessage, Loading, Section, useDates } from './common.js'
import { DocumentView } from './document-view.js'
import { detailRows } from './sensitive.js'

interface Acknowledgement {
  id: string
  type: AckType
  status: string
  submittedAt: string
  author: Agency | undefined
  reason: string | null
  outcome: string | null
  note: string | undefined
  signature: Check | undefined
  receipt: Check | undefined
}

interface Opened {
  view: ReferralView
  sender: Agency
  recipient: Agency
  schema: JsonSchema
  signed: SignedDocument<FormValue & { sensitive?: string }> | undefined
  receipt: Check
  /** Decrypted identifying details; undefined when there are none or this agency is not the recipient. */
  details: SensitiveDetails | undefined
  detailsCheck: Check | undefined
  acknowledgements: Acknowledgement[]
}

/**
 * One referral, checked in this browser: the sender's signature against the sender's keys in the
 * directory, the hub's receipt against the hub's keys, the identifying details decrypted with this
 * device's key, each acknowledgement's signature and receipt. Then what this agency may answer.
 */
async function open(hub: Hub, id: string): Promise<Opened> {
  const [view, schemas, hubJwks] = await Promise.all([
    hub.referral(id),
    fetchDocumentSchemas(),
    hub.hubJwks(),
  ])
  const [sender, recipient] = await Promise.all([
    hub.agency(view.sender.agencyId),
    hub.agency(view.recipient.agencyId),
  ])
  const signed = view.jws
    ? await verifySigned<FormValue & { sensitive?: string }>(view.jws, sender, 'trm-referral+json')
    : undefined
  const receipt = view.jws
    ? await verifyReceiptOf(view.receipt, view.jws, view.id, hubJwks)
    : ({ ok: false, reason: 'erased' } as const)
  let details: SensitiveDetails | undefined
  let detailsCheck: Check | undefined
  const sensitive = signed?.check.ok ? signed.payload?.sensitive : undefined
  if (sensitive && view.recipient.agencyId === hub.device.agencyId) {
    try {
      details = await decryptSensitive(sensitive, hub.device.encryption.key)
      detailsCheck = { ok: true }
    } catch (error) {
      detailsCheck = { ok: false, reason: (error as Error).name }
    }
  }
  const acknowledgements = await Promise.all(
    view.acknowledgements.map(async (ack): Promise<Acknowledgement> => {
      const author = await hub.agency(ack.authorId).catch(() => undefined)
      const checked =
        ack.jws && author ? await verifySigned<{ note?: string }>(ack.jws, author, 'trm-ack+json') : undefined
      return {
        id: ack.id,
        type: ack.type,
        status: ack.status,
        submittedAt: ack.submittedAt,
        author,
        reason: ack.reason,
        outcome: ack.outcome,
        note: checked?.check.ok ? checked.payload?.note : undefined,
        signature: checked?.check,
        receipt: ack.jws ? await verifyReceiptOf(ack.receipt, ack.jws, view.id, hubJwks) : undefined,
      }
    }),
  )
  return {
    view,
    sender,
    recipient,
    schema: schemas.referral,
    signed,
    receipt,
    details,
    detailsCheck,
    acknowledgements,
  }
}

export function ReferralPage(props: { hub: Hub; id: string }) {
  const { t } = useI18n()
  const date = useDates()
  const [opened, setOpened] = useState<Opened | undefined>()
  const [error, setError] = useState<unknown>()

  const load = useCallback(() => {
    open(props.hub, props.id).then(setOpened, setError)
  }, [props.hub, props.id])
  useEffect(load, [load])

  if (error) {
    return (
      <div>
        <h1 tabIndex={-1}>{t('referral.title')}</h1>
        <ErrorMessage error={error} />
      </div>
    )
  }
  if (!opened) return <Loading />
  const { view, sender, recipient } = opened
  const me = props.hub.device.agencyId
  const party = view.sender.agencyId === me ? 'sender' : 'recipient'
  const allowed = ACK_TYPES.filter(
    (type) => RULES[type].by === party && RULES[type].from.includes(view.status),
  )

  return (
    <div>
      <h1 tabIndex={-1}>
        {t('referral.title')} <span class="reference">{view.victimReference}</span>
      </h1>
      <p>
        <a href={`#/referral/${view.id}/trail`}>{t('referral.openTrail')}</a>
      </p>
      <div class="columns">
        <Section title={t('referral.summary')} id="summary-title">
          <dl class="document">
            <div>
              <dt>{t('referral.status')}</dt>
              <dd data-testid="referral-status">{t(`code.status.${view.status}`)}</dd>
            </div>
            <div>
              <dt>{t('referral.from')}</dt>
              <dd>
                {sender.name} ({sender.country})
              </dd>
            </div>
            <div>
              <dt>{t('referral.to')}</dt>
              <dd>
                {recipient.name} ({recipient.country})
              </dd>
            </div>
            <div>
              <dt>{t('referral.submitted')}</dt>
              <dd>{date(view.submittedAt)}</dd>
            </div>
            <div>
              <dt>{t('referral.deadline')}</dt>
              <dd>
                {date(view.ackDueAt)}
                {view.overdue && <span class="tag overdue">{t('referral.overdue')}</span>}
              </dd>
            </div>
          </dl>
        </Section>
        <Section title={t('verify.title')} id="verify-title">
          <ul class="checks">
            <CheckBadge
              check={opened.signed?.check ?? { ok: false, reason: 'erased' }}
              label={t('verify.senderSignature', { agency: sender.name })}
              testId="check-signature"
            />
            <CheckBadge check={opened.receipt} label={t('verify.hubReceipt')} testId="check-receipt" />
            {opened.detailsCheck && (
              <CheckBadge
                check={opened.detailsCheck}
                label={t('verify.decrypted')}
                testId="check-decrypted"
              />
            )}
          </ul>
          {opened.signed?.kid && <p class="hint mono">{t('verify.keyId', { kid: opened.signed.kid })}</p>}
        </Section>
      </div>

      <Section title={t('referral.identifying')} id="identifying-title">
        {opened.details ? (
          <dl class="document sensitive" data-testid="identifying">
            {detailRows(opened.details, t).map((row, index) => (
              <div key={index}>
                <dt>{row.label}</dt>
                <dd class="prewrap">{row.value}</dd>
              </div>
            ))}
          </dl>
        ) : (
          <p class="muted">
            {!opened.signed?.payload?.sensitive
              ? t('referral.noIdentifying')
              : party === 'sender'
                ? t('referral.encryptedForRecipient')
                : t('referral.cannotDecrypt')}
          </p>
        )}
      </Section>

      {opened.signed?.payload && (
        <Section title={t('referral.document')} id="document-title">
          <DocumentView schema={opened.schema} document={opened.signed.payload} />
        </Section>
      )}

      <Section title={t('referral.acknowledgements')} id="acks-title">
        {opened.acknowledgements.length === 0 ? (
          <p class="muted">{t('referral.noAcknowledgements')}</p>
        ) : (
          <ol class="acks" data-testid="acknowledgements">
            {opened.acknowledgements.map((ack) => (
              <li key={ack.id} data-type={ack.type}>
                <p>
                  <strong>{t(`code.ackType.${ack.type}`)}</strong>
                  {ack.reason && <> · {t(`code.reason.${ack.reason}`)}</>}
                  {ack.outcome && <> · {t(`code.outcome.${ack.outcome}`)}</>} ·{' '}
                  {ack.author?.name ?? t('common.unknown')} ·{' '}
                  <time dateTime={ack.submittedAt}>{date(ack.submittedAt)}</time>
                </p>
                {ack.note && <p class="note prewrap">{ack.note}</p>}
                <ul class="checks">
                  <CheckBadge check={ack.signature} label={t('verify.ackSignature')} />
                  <CheckBadge check={ack.receipt} label={t('verify.hubReceipt')} />
                </ul>
              </li>
            ))}
          </ol>
        )}
      </Section>

      <AcknowledgeForm hub={props.hub} referralId={view.id} allowed={allowed} onSent={load} />
      <p class="muted">{t('referral.onwardNotYet')}</p>
    </div>
  )
}
