import type { KeyObject } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { AgencyKeyRow, AgencyRow, Database } from '../../db/types.js'
import { publicKeyFor } from '../../lib/compact-jws.js'
import { type AgencySigningAlg, algForKey } from '../../lib/jose-safe.js'
import { findAgency, findKey, findNationalContactPoint, listKeys } from './agencies.repository.js'

/** A registered signing key, imported once for signature checks. */
export interface VerificationKey {
  agencyId: string
  kid: string
  alg: AgencySigningAlg
  /** The JWK as the directory holds it; a write that relies on the key re-checks it by value. */
  jwk: Record<string, unknown>
  publicKey: KeyObject
}

/** Where signature checks find an agency's active signing key by kid. */
export interface VerificationKeySource {
  verificationKey(agencyId: string, kid: string): Promise<VerificationKey | undefined>
}

async function toVerificationKey(row: AgencyKeyRow | undefined): Promise<VerificationKey | undefined> {
  if (row?.use !== 'sig' || row.status !== 'active') return undefined
  const alg = algForKey(row.jwk as { kty?: string; crv?: string })
  if (!alg) return undefined
  let publicKey: KeyObject
  try {
    publicKey = publicKeyFor(row.jwk, alg)
  } catch {
    return undefined // not a usable public key: refused as unknown, like any other key it cannot be
  }
  return { agencyId: row.agency_id, kid: row.kid, alg, jwk: row.jwk, publicKey }
}

/** Reads the key from the database on every call: for writes that do not re-check it themselves. */
export function databaseKeys(db: Kysely<Database>): VerificationKeySource {
  return { verificationKey: async (agencyId, kid) => toVerificationKey(await findKey(db, agencyId, kid)) }
}

interface Entry<T> {
  value: T
  at: number
}

const MAX_ENTRIES = 10_000

/**
 * The directory as the request path reads it: agencies, national contact points and keys, kept for
 * `ttlMs`. What it answers may be that old, so a write that depends on it re-checks inside its own
 * statement (see referrals/submissions.repository.ts): the cache saves the reads and the key
 * imports, never the decision. Misses are not kept, and a refusal based on a kept entry is decided
 * again on fresh rows (`forget`), so the cache can delay nothing but an error.
 */
export class DirectoryCache implements VerificationKeySource {
  readonly #agencies = new Map<string, Entry<AgencyRow>>()
  readonly #contactPoints = new Map<string, Entry<AgencyRow>>()
  readonly #keys = new Map<string, Entry<AgencyKeyRow[]>>()
  readonly #imported = new Map<string, Entry<VerificationKey>>()

  constructor(
    private readonly db: Kysely<Database>,
    private readonly ttlMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  agency(id: string): Promise<AgencyRow | undefined> {
    return this.#read(this.#agencies, id, () => findAgency(this.db, id))
  }

  nationalContactPoint(country: string): Promise<AgencyRow | undefined> {
    return this.#read(this.#contactPoints, country, () => findNationalContactPoint(this.db, country))
  }

  keys(agencyId: string): Promise<AgencyKeyRow[]> {
    const load = async () => {
      const rows = await listKeys(this.db, [agencyId])
      return rows.length > 0 ? rows : undefined
    }
    return this.#read(this.#keys, agencyId, load).then((rows) => rows ?? [])
  }

  verificationKey(agencyId: string, kid: string): Promise<VerificationKey | undefined> {
    return this.#read(this.#imported, `${agencyId}\u0000${kid}`, async () =>
      toVerificationKey(await findKey(this.db, agencyId, kid)),
    )
  }

  /** Drops what is known about an agency (after it, or one of its keys, changed or was refused). */
  forget(agencyId: string): void {
    this.#agencies.delete(agencyId)
    this.#keys.delete(agencyId)
    for (const [key, entry] of this.#imported)
      if (entry.value.agencyId === agencyId) this.#imported.delete(key)
    for (const [country, entry] of this.#contactPoints) {
      if (entry.value.id === agencyId) this.#contactPoints.delete(country)
    }
  }

  forgetCountry(country: string): void {
    this.#contactPoints.delete(country)
  }

  async #read<T>(map: Map<string, Entry<T>>, key: string, load: () => Promise<T | undefined>) {
    const hit = map.get(key)
    if (hit && this.now() - hit.at < this.ttlMs) return hit.value
    const value = await load()
    if (value === undefined) {
      map.delete(key)
      return undefined
    }
    if (map.size >= MAX_ENTRIES) map.clear()
    map.set(key, { value, at: this.now() })
    return value
  }
}
