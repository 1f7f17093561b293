import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { generateAgencyKeys } from '../sdk/keys.js'
import { EXIT, UsageError } from './usage.js'

export async function keysGenerateCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { out: { type: 'string' }, alg: { type: 'string' } } })
  if (!values.out) throw new UsageError('keys generate needs --out DIR')
  const alg = values.alg ?? 'ES256'
  if (alg !== 'ES256' && alg !== 'EdDSA') throw new UsageError('--alg must be ES256 or EdDSA')
  const keys = await generateAgencyKeys(alg)
  await mkdir(values.out, { recursive: true })
  const write = (name: string, value: unknown, mode: number) =>
    writeFile(path.join(values.out!, name), `${JSON.stringify(value, null, 2)}\n`, { mode, flag: 'wx' })
  await write('signing.private.jwk.json', keys.signing, 0o600)
  await write('encryption.private.jwk.json', keys.encryption, 0o600)
  await write('public.jwks.json', keys.publicJwks, 0o644)
  process.stdout.write(
    `wrote ${values.out}/signing.private.jwk.json (kid ${keys.signing.kid}), encryption.private.jwk.json ` +
      `(kid ${keys.encryption.kid}) and public.jwks.json\nregister public.jwks.json; keep the private files secret\n`,
  )
  return EXIT.ok
}
