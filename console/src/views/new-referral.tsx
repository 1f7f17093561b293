import { useEffect, useMemo, useState } from 'preact/hooks'
import { encryptSensitive, signReferral } from '../../../src/sdk/documents.js'
import { useI18n } from '../i18n.js'
import { codeName } from '../lib/codes.js'
import { consentProblem, MINOR_AGE_GROUPS } from '../lib/consent.js'
import { type Agency, ApiError, fetchDocumentSchemas, type Hub, type JsonSchema } from '../lib/hub.js'
import {
  documentMembers,
  emptyValue,
  type FormValue,
  getIn,
  missingFields,
  setIn,
} from '../lib/schema-walk.js'
import { type Check, verifyReceiptOf } from '../lib/verify.js'
import { CheckBadge, ErrorMessage, Loading } from './common.js'
import { type FieldState, SchemaFields } from './schema-form.js'
import { EMPTY_SENSITIVE, SensitiveFields, type SensitiveForm, sensitiveDetails } from './sensitive.js'

type Routing = { by: 'agency'; agencyId: string } | { by: 'country'; country: string }

interface Submitted {
  id: string
  victimReference: string
  status: string
  receipt: Check
}

const activeEncryptionKey = (agency: Agency) =>
  agency.jwks.keys.filter((key) => key.use === 'enc' && key.status === 'active').at(-1)

/** Rules the hub enforces that the schema cannot say; applied as the case worker types. */
function applyRules(value: FormValue): { value: FormValue; locked: Map<string, string> } {
  const locked = new Map<string, string>()
  if (MINOR_AGE_GROUPS.has(String(getIn(value, ['victim', 'ageGroup'])))) {
    value = setIn(value, ['victim', 'minor'], true)
    locked.set('/victim/minor', 'rule.presumedMinor')
  }
  return { value, locked }
}

/**
 * A new referral: the form comes from the referral document's schema as the hub publishes it; the
 * identifying details are encrypted to the recipient's key here, the document is signed here, and the
 * hub's receipt is checked here.
 */
export function NewReferral(props: { hub: Hub }) {
  const { hub } = props
  const { t, language } = useI18n()
  const [schema, setSchema] = useState<JsonSchema | undefined>()
  const [directory, setDirectory] = useState<Agency[] | undefined>()
  const [value, setValue] = useState<FormValue>({})
  const [routing, setRouting] = useState<Routing>({ by: 'agency', agencyId: '' })
  const [details, setDetails] = useState<SensitiveForm>(EMPTY_SENSITIVE)
  /** Once a send was tried, the form is checked again at every change, so fixed faults disappear. */
  const [attempted, setAttempted] = useState(false)
  /** Fields the hub itself refused, until the next change. */
  const [refused, setRefused] = useState(new Map<string, string>())
  const [error, setError] = useState<unknown>()
  const [busy, setBusy] = useState(false)
  const [submitted, setSubmitted] = useState<Submitted | undefined>()

  useEffect(() => {
    Promise.all([fetchDocumentSchemas(), hub.directory()]).then(([schemas, agencies]) => {
      setSchema(schemas.referral)
      setValue(emptyValue(schemas.referral) as FormValue)
      setDirectory(agencies.filter((agency) => agency.status === 'active' && agency.kind !== 'hub_operator'))
    }, setError)
  }, [hub])

  const ruled = useMemo(() => applyRules(value), [value])
  const others = (directory ?? []).filter((agency) => agency.id !== hub.device.agencyId)
  const contactPoints = others.filter((agency) => agency.nationalContactPoint)
  const recipient =
    routing.by === 'agency'
      ? others.find((agency) => agency.id === routing.agencyId)
      : contactPoints.find((agency) => agency.country === routing.country)

  const identifying = sensitiveDetails(details)
  const encryptTo = recipient && activeEncryptionKey(recipient)

  function validate(): Map<string, string> {
    if (!schema) return new Map()
    const found = missingFields(schema, ruled.value)
    if (!recipient) found.set('/recipient', 'form.chooseRecipient')
    const rule = recipient && consentProblem(ruled.value as never, recipient.kind)
    if (rule) found.set(rule.pointer, rule.messageKey)
    if (identifying && recipient && !encryptTo) {
      found.set('/sensitive', 'form.recipientCannotDecrypt')
    }
    return found
  }
  const errors = new Map([...(attempted ? validate() : []), ...refused])

  const state: FieldState = {
    value: ruled.value,
    locked: ruled.locked,
    errors,
    onChange: (path, next) => {
      setRefused(new Map())
      setValue((current) => setIn(current, path, next))
    },
  }

  async function submit(event: SubmitEvent) {
    event.preventDefault()
    if (!schema) return
    setError(undefined)
    setRefused(new Map())
    setAttempted(true)
    const found = validate()
    if (found.size > 0) {
      requestAnimationFrame(() => document.getElementById('form-errors')?.focus())
      return
    }
    setBusy(true)
    try {
      const referral = {
        id: crypto.randomUUID(),
        sender: hub.device.agencyId,
        recipient: routing.by === 'agency' ? { agencyId: routing.agencyId } : { country: routing.country },
        createdAt: new Date().toISOString(),
        ...(documentMembers(
          schema,
          setIn(ruled.value, ['consent', 'recordedAt'], new Date().toISOString()),
        ) as FormValue),
        ...(identifying && encryptTo ? { sensitive: await encryptSensitive(identifying, encryptTo) } : {}),
      }
      const jws = await signReferral(referral, hub.device.signing)
      const result = await hub.submitReferral(jws)
      const receipt = await verifyReceiptOf(result.receipt, jws, result.id, await hub.hubJwks())
      setSubmitted({ id: result.id, victimReference: result.victimReference, status: result.status, receipt })
      setAttempted(false)
      setDetails(EMPTY_SENSITIVE)
      setValue(emptyValue(schema) as FormValue)
      requestAnimationFrame(() => document.getElementById('submitted')?.focus())
    } catch (caught) {
      setError(caught)
      if (caught instanceof ApiError && caught.problem?.errors) {
        setRefused(
          new Map(
            caught.problem.errors.map((fault) => [
              fault.pointer.replace(/^\/jws\/payload/, ''),
              'form.refusedByHub',
            ]),
          ),
        )
      }
    } finally {
      setBusy(false)
    }
  }

  if (error && !schema) return <ErrorMessage error={error} />
  if (!schema || !directory) return <Loading />

  return (
    <div>
      <h1 tabIndex={-1}>{t('new.title')}</h1>
      <p>{t('new.intro')}</p>
      {submitted && (
        <div class="card success" id="submitted" tabIndex={-1} role="status" data-testid="submitted">
          <p>
            {t('new.submitted', { reference: submitted.victimReference })}{' '}
            <a href={`#/referral/${submitted.id}`}>{t('inbox.openReferral')}</a>
          </p>
          <ul class="checks">
            <CheckBadge check={submitted.receipt} label={t('verify.hubReceipt')} testId="submit-receipt" />
          </ul>
        </div>
      )}
      <form onSubmit={submit} class="stack" noValidate>
        {errors.size > 0 && (
          <div class="card error-summary" id="form-errors" tabIndex={-1} role="alert">
            <h2>{t('form.fix', { count: errors.size })}</h2>
            <ul>
              {[...errors].map(([pointer, message]) => (
                <li key={pointer}>
                  {t(`field.${pointer.slice(1).replaceAll('/', '.')}`)}: {t(message)}
                </li>
              ))}
            </ul>
          </div>
        )}
        <fieldset class="group">
          <legend>{t('field.recipient')}</legend>
          <div class="choices-inline">
            <label class="choice">
              <input
                type="radio"
                name="routing"
                checked={routing.by === 'agency'}
                onChange={() => setRouting({ by: 'agency', agencyId: '' })}
              />
              {t('new.toAgency')}
            </label>
            <label class="choice">
              <input
                type="radio"
                name="routing"
                checked={routing.by === 'country'}
                onChange={() => setRouting({ by: 'country', country: '' })}
              />
              {t('new.toCountry')}
            </label>
          </div>
          {routing.by === 'agency' ? (
            <div class="field">
              <label for="recipient-agency">{t('new.agency')}</label>
              <select
                id="recipient-agency"
                value={routing.agencyId}
                onChange={(event) => setRouting({ by: 'agency', agencyId: event.currentTarget.value })}
              >
                <option value="">{t('form.choose')}</option>
                {others.map((agency) => (
                  <option key={agency.id} value={agency.id}>
                    {agency.name} — {codeName('region', agency.country, language)} ·{' '}
                    {t(`code.agencyKind.${agency.kind}`)}
                  </option>
                ))}
              </select>
            </div>
          ) : (
            <div class="field">
              <label for="recipient-country">{t('new.country')}</label>
              <select
                id="recipient-country"
                value={routing.country}
                onChange={(event) => setRouting({ by: 'country', country: event.currentTarget.value })}
                aria-describedby="recipient-country-hint"
              >
                <option value="">{t('form.choose')}</option>
                {contactPoints.map((agency) => (
                  <option key={agency.id} value={agency.country}>
                    {codeName('region', agency.country, language)}
                  </option>
                ))}
              </select>
              <p class="hint" id="recipient-country-hint">
                {recipient ? t('new.routedTo', { agency: recipient.name }) : t('new.countryHint')}
              </p>
            </div>
          )}
        </fieldset>
        <SchemaFields schema={schema} path={[]} state={state} />
        <SensitiveFields value={details} onChange={setDetails} />
        <ErrorMessage error={error} />
        <button type="submit" disabled={busy}>
          {busy ? t('common.working') : t('new.submit')}
        </button>
      </form>
    </div>
  )
}
