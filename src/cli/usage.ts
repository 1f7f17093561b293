/** Exit statuses of `trm`, part of its stable interface (DESIGN.md, The `trm` command). */
export const EXIT = { ok: 0, failedCheck: 1, usage: 2 } as const

export class UsageError extends Error {
  override name = 'UsageError'
}

export const USAGE = `usage: trm <command> [options]

commands:
  migrate                               apply pending database migrations
  keys generate --out DIR [--alg ES256|EdDSA]
                                        write signing.private.jwk.json, encryption.private.jwk.json
                                        and public.jwks.json for a new agency
  agencies add --name N --country CC --kind K --jwks FILE [--ncp] [--push-url URL] [--json]
                                        register an agency directly in the database
  audit verify [--from SEQ] [--jwks FILE] [--json]
                                        recompute the audit hash chain from the database and check
                                        every signed checkpoint (hub keys from HUB_SIGNING_KEYS[_FILE],
                                        or the public JWKS in FILE); 1 names the first broken seq
  retention [--dry-run]                 remove payloads past the retention period, from the tables
                                        and their files (erased ones too)
  demo [--url URL]                      run a referral between two fresh agencies against a hub

Configuration comes from the same environment variables as the server (see README).
Exit status: 0 success, 1 failed check, 2 bad usage.`
