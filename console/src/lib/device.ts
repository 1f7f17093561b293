import { type CryptoKey, importJWK, type JWK } from 'jose'

/**
 * The agency's keys on this device: imported from the files `trm keys generate` writes into WebCrypto
 * as non-extractable CryptoKeys and kept in IndexedDB. Script on this page can use them to sign and
 * decrypt but cannot read them out; they never leave the browser.
 */
export interface Device {
  agencyId: string
  signing: { key: CryptoKey; kid: string; alg: 'ES256' | 'EdDSA' }
  encryption: { key: CryptoKey; kid: string }
  savedAt: string
}

const DATABASE = 'trm-console'
const STORE = 'device'
const KEY = 'device'

/**
 * One IndexedDB transaction on a connection opened for it and closed after, so that nothing holds the
 * database open when "forget this device" deletes it.
 */
function withStore<T>(mode: IDBTransactionMode, operation: (store: IDBObjectStore) => IDBRequest<T>) {
  return new Promise<T>((resolve, reject) => {
    const opening = indexedDB.open(DATABASE, 1)
    opening.onupgradeneeded = () => opening.result.createObjectStore(STORE)
    opening.onerror = () => reject(opening.error)
    opening.onsuccess = () => {
      const db = opening.result
      const transaction = db.transaction(STORE, mode)
      const request = operation(transaction.objectStore(STORE))
      transaction.oncomplete = () => {
        db.close()
        resolve(request.result)
      }
      transaction.onerror = transaction.onabort = () => {
        db.close()
        reject(transaction.error)
      }
    }
  })
}

export class KeyFileError extends Error {
  constructor(readonly messageKey: string) {
    super(messageKey)
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function parseJwk(text: string, problemKey: string): JWK & { kid: string } {
  let jwk: unknown
  try {
    jwk = JSON.parse(text)
  } catch {
    throw new KeyFileError(problemKey)
  }
  if (typeof jwk !== 'object' || jwk === null) throw new KeyFileError(problemKey)
  const candidate = jwk as JWK
  if (typeof candidate.kid !== 'string' || typeof candidate.d !== 'string') throw new KeyFileError(problemKey)
  return candidate as JWK & { kid: string }
}

/** Reads signing.private.jwk.json and encryption.private.jwk.json as `trm keys generate` writes them. */
export async function importKeyFiles(
  agencyId: string,
  signingText: string,
  encryptionText: string,
): Promise<Device> {
  if (!UUID.test(agencyId.trim())) throw new KeyFileError('setup.error.agencyId')
  const signingJwk = parseJwk(signingText, 'setup.error.signingFile')
  const encryptionJwk = parseJwk(encryptionText, 'setup.error.encryptionFile')
  const alg = signingJwk.alg === 'ES256' ? 'ES256' : signingJwk.alg === 'EdDSA' ? 'EdDSA' : undefined
  if (signingJwk.use !== 'sig' || !alg) throw new KeyFileError('setup.error.signingFile')
  if (encryptionJwk.use !== 'enc' || encryptionJwk.alg !== 'ECDH-ES+A256KW') {
    throw new KeyFileError('setup.error.encryptionFile')
  }
  try {
    const [signingKey, encryptionKey] = await Promise.all([
      importJWK(signingJwk, alg, { extractable: false }),
      importJWK(encryptionJwk, 'ECDH-ES+A256KW', { extractable: false }),
    ])
    return {
      agencyId: agencyId.trim().toLowerCase(),
      signing: { key: signingKey as CryptoKey, kid: signingJwk.kid, alg },
      encryption: { key: encryptionKey as CryptoKey, kid: encryptionJwk.kid },
      savedAt: new Date().toISOString(),
    }
  } catch {
    throw new KeyFileError('setup.error.unsupportedKey')
  }
}

export async function saveDevice(device: Device): Promise<void> {
  await withStore('readwrite', (store) => store.put(device, KEY))
}

export async function loadDevice(): Promise<Device | undefined> {
  try {
    return ((await withStore('readonly', (store) => store.get(KEY))) as Device | undefined) ?? undefined
  } catch {
    return undefined
  }
}

/** "Forget this device": the keys and everything else the console kept in this browser. */
export async function forgetDevice(): Promise<void> {
  await withStore('readwrite', (store) => store.delete(KEY))
  await new Promise<void>((resolve, reject) => {
    const request = indexedDB.deleteDatabase(DATABASE)
    request.onsuccess = () => resolve()
    request.onerror = () => reject(request.error)
  })
  sessionStorage.clear()
}
