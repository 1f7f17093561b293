import { createPrivateKey, type KeyObject } from 'node:crypto'
import { readFile, rename, writeFile } from 'node:fs/promises'
import {
  cosignatureVerifierKey,
  ed25519PublicKey,
  parseVerifierKey,
  TlogFormatError,
} from '../lib/tlog/index.js'
import { EXIT, UsageError } from './usage.js'
import { assessCheckpoint, decideWithProof, parseWitnessState, type WitnessState } from './witness.core.js'

// `trm witness`: the shell around witness.core.ts. Fetches the hub's checkpoint and consistency
// proof, saves its state before it posts a cosignature (so a crash never lets it cosign a tree that
// does not extend one it cosigned), and stops with exit 1 saying why when it refuses.

export interface WitnessOptions {
  hub: string
  key: string
  state: string
  once: boolean
  /** Needed when the state file does not exist yet; then kept there. */
  name?: string | undefined
  /** The log's verifier key: needed on the first run; given later, it replaces the stored one. */
  logKey?: string | undefined
  /** Seconds between checks without --once. */
  interval?: number | undefined
}

/** The witness refused to cosign the hub's checkpoint (a fork, a rollback, a bad signature). */
export class WitnessRefusedError extends Error {
  override name = 'WitnessRefusedError'
}

export interface WitnessDeps {
  fetch: typeof fetch
  now: () => number
  out: (text: string) => void
}

/** The witness's Ed25519 private key: a JWK (`trm keys generate --alg EdDSA`) or a PKCS#8 PEM file. */
export async function loadWitnessKey(file: string): Promise<KeyObject> {
  const text = await readFile(file, 'utf8')
  let key: KeyObject
  try {
    key = text.trimStart().startsWith('-----BEGIN')
      ? createPrivateKey(text)
      : createPrivateKey({ key: JSON.parse(text), format: 'jwk' })
  } catch (error) {
    throw new UsageError(
      `--key ${file} is not a private key in JWK or PEM form (${(error as Error).message})`,
    )
  }
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519') {
    throw new UsageError(`--key ${file} must be an Ed25519 private key`)
  }
  return key
}

async function readState(file: string): Promise<WitnessState | undefined> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return undefined
    throw error
  }
  try {
    return parseWitnessState(JSON.parse(text))
  } catch (error) {
    throw new UsageError(`--state ${file} is not a witness state file: ${(error as Error).message}`)
  }
}

/** Writes the state to a temporary file beside it, then renames it over the old one (atomic). */
export async function writeState(file: string, state: WitnessState): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`
  await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600, flush: true })
  await rename(temporary, file)
}

async function initialState(options: WitnessOptions): Promise<{ state: WitnessState; fresh: boolean }> {
  const stored = await readState(options.state)
  const logKey = options.logKey ?? stored?.logKey
  const name = stored?.name ?? options.name
  if (!logKey || !name) {
    throw new UsageError(
      `--state ${options.state} does not exist yet: give --name (this witness's key name) and --log-key (the hub's verifier key) to start it`,
    )
  }
  if (stored && options.name && options.name !== stored.name) {
    throw new UsageError(
      `--name ${options.name} is not the name in --state ${options.state} (${stored.name})`,
    )
  }
  try {
    parseVerifierKey(logKey)
  } catch (error) {
    if (error instanceof TlogFormatError)
      throw new UsageError(`--log-key is not a verifier key: ${error.message}`)
    throw error
  }
  // A new --log-key is kept only with the first checkpoint that verifies with it (and is cosigned).
  return stored
    ? { state: { ...stored, logKey }, fresh: false }
    : { state: { name, logKey, size: 0, rootHash: null }, fresh: true }
}

async function call(deps: WitnessDeps, url: string, init: RequestInit): Promise<Response> {
  try {
    return await deps.fetch(url, init)
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message
    throw new Error(`cannot reach ${url}: ${cause ?? (error as Error).message}`)
  }
}

async function get(deps: WitnessDeps, url: string, accept: string): Promise<Response> {
  const response = await call(deps, url, { headers: { accept } })
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}: ${await response.text()}`)
  return response
}

/**
 * One round: fetch the latest checkpoint, check it against the state, cosign and post, or refuse.
 * Resolves to the new state; rejects with an Error saying why when it refuses or the hub fails.
 */
export async function witnessOnce(
  hub: string,
  stateFile: string,
  state: WitnessState,
  privateKey: KeyObject,
  deps: WitnessDeps,
): Promise<WitnessState> {
  const base = hub.replace(/\/+$/, '')
  const note = await (await get(deps, `${base}/v1/audit/checkpoint`, 'text/plain')).text()
  let step = assessCheckpoint(state, note, { privateKey }, deps.now())
  if (step.kind === 'need-proof') {
    const url = `${base}/v1/audit/proofs/consistency?from=${step.from}&to=${step.to}`
    const body = (await (await get(deps, url, 'application/json')).json()) as { hashes?: unknown }
    const hashes = Array.isArray(body.hashes) ? body.hashes : []
    const proof = hashes.map((h) => new Uint8Array(Buffer.from(String(h), 'base64')))
    step = decideWithProof(state, step, proof, { privateKey }, deps.now())
  }
  if (step.kind === 'refuse')
    throw new WitnessRefusedError(`refused to cosign: ${step.reason}: ${step.message}`)
  if (step.kind !== 'cosign') throw new Error('no consistency proof to check')
  await writeState(stateFile, step.state)
  const response = await call(deps, `${base}/v1/audit/checkpoint/cosignatures`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain; charset=utf-8' },
    body: step.note,
  })
  if (!response.ok) {
    throw new Error(
      `the hub did not take the cosignature of size ${step.checkpoint.size} (${response.status}: ${await response.text()})`,
    )
  }
  deps.out(`cosigned ${step.checkpoint.origin} at size ${step.checkpoint.size}\n`)
  return step.state
}

/** `trm witness --hub URL --key FILE --state FILE [--once]`: exit 1 on a refusal, saying why. */
export async function witnessCommand(
  options: WitnessOptions,
  deps: WitnessDeps = {
    fetch,
    now: () => Date.now(),
    out: (text) => process.stdout.write(text),
  },
): Promise<number> {
  const privateKey = await loadWitnessKey(options.key)
  const initial = await initialState(options)
  let state = initial.state
  let vkey: string
  try {
    vkey = cosignatureVerifierKey(state.name, ed25519PublicKey(privateKey))
  } catch (error) {
    if (error instanceof TlogFormatError) throw new UsageError(`--name ${state.name}: ${error.message}`)
    throw error
  }
  if (initial.fresh) await writeState(options.state, state)
  deps.out(`witness ${state.name}, verifier key ${vkey}\n`)
  if (options.once) {
    await witnessOnce(options.hub, options.state, state, privateKey, deps)
    return EXIT.ok
  }
  const stop = new AbortController()
  const onSignal = () => stop.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    while (!stop.signal.aborted) {
      try {
        state = await witnessOnce(options.hub, options.state, state, privateKey, deps)
      } catch (error) {
        // A refusal ends the witness: someone must look. A hub that does not answer is retried.
        if (error instanceof WitnessRefusedError) throw error
        process.stderr.write(`trm witness: ${(error as Error).message}; retrying\n`)
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, (options.interval ?? 60) * 1000)
        stop.signal.addEventListener('abort', () => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
    return EXIT.ok
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
