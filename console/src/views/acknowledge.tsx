import { useState } from 'preact/hooks'
import {
  type AckType,
  CLOSE_OUTCOMES,
  DECLINE_REASONS,
} from '../../../src/modules/referrals/lifecycle.core.js'
import { signAcknowledgement } from '../../../src/sdk/documents.js'
import { useI18n } from '../i18n.js'
import type { Hub } from '../lib/hub.js'
import { type Check, verifyReceiptOf } from '../lib/verify.js'
import { CheckBadge, ErrorMessage, Section } from './common.js'

/** A note is short and not identifying (the hub keeps it in clear inside the signed acknowledgement). */
const NOTE_MAX = 500

/** The answers this agency may give now, by the lifecycle's rules; signed here, sent, receipt checked. */
export function AcknowledgeForm(props: {
  hub: Hub
  referralId: string
  allowed: AckType[]
  onSent: () => void
}) {
  const { t } = useI18n()
  const [type, setType] = useState<AckType | ''>('')
  const [reason, setReason] = useState('')
  const [outcome, setOutcome] = useState('')
  const [note, setNote] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>()
  const [missing, setMissing] = useState<string | undefined>()
  const [sent, setSent] = useState<{ type: AckType; receipt: Check } | undefined>()

  if (props.allowed.length === 0 && !sent) return null

  async function submit(event: SubmitEvent) {
    event.preventDefault()
    setError(undefined)
    setMissing(undefined)
    if (!type) return setMissing('ack.chooseType')
    if (type === 'declined' && !reason) return setMissing('ack.chooseReason')
    if (type === 'closed' && !outcome) return setMissing('ack.chooseOutcome')
    setBusy(true)
    try {
      const acknowledgement = {
        id: crypto.randomUUID(),
        referralId: props.referralId,
        type,
        ...(type === 'declined' ? { reason } : {}),
        ...(type === 'closed' ? { outcome } : {}),
        ...(note.trim() ? { note: note.trim() } : {}),
        createdAt: new Date().toISOString(),
      }
      const jws = await signAcknowledgement(acknowledgement, props.hub.device.signing)
      const result = await props.hub.acknowledge(props.referralId, jws)
      const receipt = await verifyReceiptOf(result.receipt, jws, props.referralId, await props.hub.hubJwks())
      setSent({ type, receipt })
      setType('')
      setReason('')
      setOutcome('')
      setNote('')
      props.onSent()
    } catch (caught) {
      setError(caught)
    } finally {
      setBusy(false)
    }
  }

  return (
    <Section title={t('ack.title')} id="ack-title">
      {sent && (
        <div role="status" data-testid="ack-sent">
          <p>{t('ack.sent', { type: t(`code.ackType.${sent.type}`) })}</p>
          <ul class="checks">
            <CheckBadge check={sent.receipt} label={t('verify.hubReceipt')} />
          </ul>
        </div>
      )}
      {props.allowed.length > 0 && (
        <form onSubmit={submit} class="stack">
          <fieldset class="choices">
            <legend>{t('ack.type')}</legend>
            {props.allowed.map((option) => (
              <label key={option} class="choice">
                <input
                  type="radio"
                  name="ack-type"
                  value={option}
                  checked={type === option}
                  onChange={() => setType(option)}
                />
                {t(`code.ackType.${option}`)}
              </label>
            ))}
          </fieldset>
          {type === 'declined' && (
            <div class="field">
              <label for="ack-reason">{t('ack.reason')}</label>
              <select
                id="ack-reason"
                value={reason}
                onChange={(event) => setReason(event.currentTarget.value)}
              >
                <option value="">{t('form.choose')}</option>
                {DECLINE_REASONS.map((option) => (
                  <option key={option} value={option}>
                    {t(`code.reason.${option}`)}
                  </option>
                ))}
              </select>
            </div>
          )}
          {type === 'closed' && (
            <div class="field">
              <label for="ack-outcome">{t('ack.outcome')}</label>
              <select
                id="ack-outcome"
                value={outcome}
                onChange={(event) => setOutcome(event.currentTarget.value)}
              >
                <option value="">{t('form.choose')}</option>
                {CLOSE_OUTCOMES.map((option) => (
                  <option key={option} value={option}>
                    {t(`code.outcome.${option}`)}
                  </option>
                ))}
              </select>
            </div>
          )}
          <div class="field">
            <label for="ack-note">{t('ack.note')}</label>
            <textarea
              id="ack-note"
              rows={2}
              maxLength={NOTE_MAX}
              value={note}
              aria-describedby="ack-note-hint"
              onInput={(event) => setNote(event.currentTarget.value)}
            />
            <p class="hint" id="ack-note-hint">
              {t('ack.noteHint')}
            </p>
          </div>
          {missing && (
            <p class="error" role="alert">
              {t(missing)}
            </p>
          )}
          <ErrorMessage error={error} />
          <button type="submit" disabled={busy}>
            {busy ? t('common.working') : t('ack.submit')}
          </button>
        </form>
      )}
    </Section>
  )
}
