import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { generateAgencyKeys } from '../sdk/keys.js'
import { EXIT } from './usage.js'

export interface KeysGenerateOptions {
  out: string
  alg: 'ES256' | 'EdDSA'
}

/** `trm keys generate`: an agency's signing and encryption keys, never overwriting existing files. */
export async function keysGenerateCommand({ out, alg }: KeysGenerateOptions): Promise<number> {
  const files = ['signing.private.jwk.json', 'encryption.private.jwk.json', 'public.jwks.json'] as const
  const taken = files.filter((name) => existsSync(path.join(out, name)))
  if (taken.length > 0) {
    // A failed check (1), not bad usage: keys are never overwritten, nor half a set written.
    throw new Error(
      `--out ${out} already holds ${taken.join(', ')}: keys are never overwritten; choose an empty directory`,
    )
  }
  const keys = await generateAgencyKeys(alg)
  await mkdir(out, { recursive: true })
  const write = (name: string, value: unknown, mode: number) =>
    writeFile(path.join(out, name), `${JSON.stringify(value, null, 2)}\n`, { mode, flag: 'wx' })
  await write(files[0], keys.signing, 0o600)
  await write(files[1], keys.encryption, 0o600)
  await write(files[2], keys.publicJwks, 0o644)
  process.stdout.write(
    `wrote ${out}/signing.private.jwk.json (kid ${keys.signing.kid}), encryption.private.jwk.json ` +
      `(kid ${keys.encryption.kid}) and public.jwks.json\nregister public.jwks.json; keep the private files secret\n`,
  )
  return EXIT.ok
}
