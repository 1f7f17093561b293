import { useState } from 'preact/hooks'
import { useI18n } from '../i18n.js'
import { type Device, importKeyFiles, KeyFileError, saveDevice } from '../lib/device.js'
import { connect } from '../lib/hub.js'
import { ErrorMessage } from './common.js'

const readFile = (input: HTMLInputElement | null) => input?.files?.[0]?.text() ?? Promise.resolve('')

/**
 * Once per device: the agency id and the two private key files. The keys are imported as
 * non-extractable CryptoKeys, tried against the hub (a token, and the encryption key among the
 * agency's registered keys), and only then kept in IndexedDB.
 */
export function Setup(props: { onReady: (device: Device) => void }) {
  const { t } = useI18n()
  const [busy, setBusy] = useState(false)
  const [problem, setProblem] = useState<string | undefined>()
  const [error, setError] = useState<unknown>()

  async function submit(event: SubmitEvent) {
    event.preventDefault()
    const form = event.currentTarget as HTMLFormElement
    setBusy(true)
    setProblem(undefined)
    setError(undefined)
    try {
      const device = await importKeyFiles(
        (form.elements.namedItem('agencyId') as HTMLInputElement).value,
        await readFile(form.elements.namedItem('signing') as HTMLInputElement),
        await readFile(form.elements.namedItem('encryption') as HTMLInputElement),
      )
      const agency = await connect(device).agency(device.agencyId)
      const encryptionKey = agency.jwks.keys.find((key) => key.kid === device.encryption.kid)
      if (encryptionKey?.use !== 'enc' || encryptionKey.status !== 'active') {
        throw new KeyFileError('setup.error.encryptionNotRegistered')
      }
      await saveDevice(device)
      props.onReady(device)
    } catch (caught) {
      if (caught instanceof KeyFileError) setProblem(t(caught.messageKey))
      else setError(caught)
    } finally {
      setBusy(false)
    }
  }

  return (
    <div class="narrow">
      <h1 tabIndex={-1}>{t('setup.title')}</h1>
      <p>{t('setup.intro')}</p>
      <form onSubmit={submit} class="card stack">
        <div class="field">
          <label for="agencyId">{t('setup.agencyId')}</label>
          <input id="agencyId" name="agencyId" required autoComplete="off" spellcheck={false} />
          <p class="hint">{t('setup.agencyIdHint')}</p>
        </div>
        <div class="field">
          <label for="signing">{t('setup.signingFile')}</label>
          <input id="signing" name="signing" type="file" accept=".json,application/json" required />
        </div>
        <div class="field">
          <label for="encryption">{t('setup.encryptionFile')}</label>
          <input id="encryption" name="encryption" type="file" accept=".json,application/json" required />
        </div>
        <p class="hint">{t('setup.keysStay')}</p>
        {problem && (
          <p class="error" role="alert">
            {problem}
          </p>
        )}
        <ErrorMessage error={error} />
        <button type="submit" disabled={busy}>
          {busy ? t('common.working') : t('setup.submit')}
        </button>
      </form>
    </div>
  )
}
