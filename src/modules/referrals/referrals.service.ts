import type { Kysely } from 'kysely'
import type { Config } from '../../config.js'
import { notifySoon } from '../../db/after-commit.js'
import type { AgencyRow, Database, ReferralRow } from '../../db/types.js'
import { HubError } from '../../lib/errors.js'
import type { HubKeys } from '../../lib/hub-keys.js'
import { newId } from '../../lib/ids.js'
import { fieldErrors } from '../../lib/problem.js'
import { RECEIPT_TYP, signHubStatement } from '../../lib/receipts.js'
import { compileInputCheck } from '../../lib/validator.js'
import type { DirectoryCache } from '../agencies/directory-cache.js'
import { auditEventRow } from '../ledger/audit.service.js'
import { inboxMessageRow } from '../ledger/inbox.repository.js'
import { inboxChannel } from '../ledger/inbox.service.js'
import { outboxChannel, outboxRow } from '../ledger/outbox.service.js'
import { REFERRAL_TYP, type ReferralDocument, ReferralDocumentSchema } from './referral-document.schema.js'
import { ackDueAt, checkConsent, newVictimReference } from './referrals.core.js'
import * as repo from './referrals.repository.js'
import { checkSensitive } from './sensitive.js'
import { type VerifiedDocument, verifySignedDocument } from './signed-document.js'
import {
  SubmissionNotQueued,
  SubmissionRefused,
  type SubmissionWriter,
  type SubmittedReferral,
} from './submission-writer.js'

export interface ReferralDeps {
  db: Kysely<Database>
  hubKeys: HubKeys
  config: Pick<Config, 'deadlines' | 'databaseSchema'>
  now: () => Date
  directory: DirectoryCache
  submissions: SubmissionWriter
}

export interface SubmissionResult {
  id: string
  status: string
  recipient: { agencyId: string; country: string }
  victimReference: string
  submittedAt: string
  ackDueAt: string
  receipt: string
  possibleDuplicates: number
}

const checkDocument = compileInputCheck(ReferralDocumentSchema)

function parseDocument(payload: unknown): ReferralDocument {
  if (!checkDocument.Check(payload)) {
    throw new HubError('TRM_DOCUMENT_INVALID', 'The signed referral document does not match the schema.', {
      errors: fieldErrors(checkDocument.Errors(payload) as never),
    })
  }
  return payload
}

/** Refusals the checks inside the writing statement can also give: one wording whichever finds them. */
const refusals = {
  // The same answer, header included, as the access check gives a suspended agency (plugins/auth.ts).
  TRM_AUTH_UNAUTHENTICATED: () =>
    new HubError('TRM_AUTH_UNAUTHENTICATED', 'A valid access token is required.', {
      headers: { 'www-authenticate': 'Bearer realm="trm-hub"' },
    }),
  TRM_IN_PROGRESS: () =>
    new HubError('TRM_IN_PROGRESS', 'The same referral is being submitted right now; retry shortly.', {
      pointer: '/id',
    }),
  TRM_KEY_UNKNOWN: () =>
    new HubError('TRM_KEY_UNKNOWN', 'The kid is not an active signing key of the calling agency.', {
      pointer: '/jws/header/kid',
    }),
  TRM_RECIPIENT_INVALID: (document: ReferralDocument) =>
    'country' in document.recipient
      ? new HubError(
          'TRM_RECIPIENT_INVALID',
          `${document.recipient.country} has no active national contact point.`,
          {
            pointer: '/recipient/country',
          },
        )
      : new HubError(
          'TRM_RECIPIENT_INVALID',
          'The recipient must be an active agency other than the sender.',
          {
            pointer: '/recipient/agencyId',
          },
        ),
  TRM_SENSITIVE_INVALID: () =>
    new HubError(
      'TRM_SENSITIVE_INVALID',
      "sensitive must be encrypted to one of the recipient's active enc keys.",
      {
        pointer: '/sensitive',
      },
    ),
  TRM_VICTIM_REFERENCE_UNKNOWN: () =>
    new HubError('TRM_VICTIM_REFERENCE_UNKNOWN', 'The victim reference is not one of your referrals.', {
      pointer: '/victim/reference',
    }),
  TRM_DUPLICATE_MISMATCH: () =>
    new HubError('TRM_DUPLICATE_MISMATCH', 'This referral id was already used for a different document.', {
      pointer: '/id',
    }),
}

/** Refusals that a directory entry older than the cache's lifetime could have caused. */
const DECIDED_BY_DIRECTORY = new Set<string>([
  'TRM_RECIPIENT_INVALID',
  'TRM_CONSENT_INSUFFICIENT',
  'TRM_SENSITIVE_INVALID',
])

/** Answers that say nothing about the document: no reason to look for it as a replay. */
const NOT_A_REFUSAL = new Set<string>(['TRM_IN_PROGRESS', 'TRM_OVERLOADED', 'TRM_BAD_REQUEST'])

interface Route {
  recipient: AgencyRow
  /** The recipient key the sensitive JWE is addressed to, when there is one. */
  encryptionKid: string | undefined
}

async function resolveRecipient(directory: DirectoryCache, document: ReferralDocument): Promise<AgencyRow> {
  if ('country' in document.recipient) {
    const ncp = await directory.nationalContactPoint(document.recipient.country)
    if (ncp?.status !== 'active') throw refusals.TRM_RECIPIENT_INVALID(document)
    if (ncp.id === document.sender) {
      throw new HubError('TRM_RECIPIENT_INVALID', 'An agency cannot refer a case to itself.', {
        pointer: '/recipient/country',
      })
    }
    return ncp
  }
  const agency = await directory.agency(document.recipient.agencyId)
  if (agency?.status !== 'active' || agency.id === document.sender)
    throw refusals.TRM_RECIPIENT_INVALID(document)
  return agency
}

async function route(directory: DirectoryCache, document: ReferralDocument): Promise<Route> {
  const recipient = await resolveRecipient(directory, document)
  const consentProblem = checkConsent(document, recipient.kind)
  if (consentProblem) {
    throw new HubError('TRM_CONSENT_INSUFFICIENT', consentProblem.detail, { pointer: consentProblem.pointer })
  }
  const encryptionKid =
    document.sensitive === undefined
      ? undefined
      : checkSensitive(document.sensitive, await directory.keys(recipient.id))
  return { recipient, encryptionKid }
}

/** Forgets the directory entries a routing decision about this document read. */
function forgetRoute(directory: DirectoryCache, document: ReferralDocument) {
  if ('country' in document.recipient) directory.forgetCountry(document.recipient.country)
  else directory.forget(document.recipient.agencyId)
}

function toSubmission(row: ReferralRow, possibleDuplicates: number): SubmissionResult {
  return {
    id: row.id,
    status: row.status,
    recipient: { agencyId: row.recipient_id, country: row.recipient_country },
    victimReference: row.victim_reference,
    submittedAt: row.submitted_at.toISOString(),
    ackDueAt: row.ack_due_at.toISOString(),
    receipt: row.receipt,
    possibleDuplicates,
  }
}

async function replayOrRefuse(db: Kysely<Database>, existing: ReferralRow, callerId: string, digest: string) {
  if (existing.sender_id !== callerId || existing.payload_sha256 !== digest)
    throw refusals.TRM_DUPLICATE_MISMATCH()
  const linked = await repo.findLinked(db, existing.id, callerId)
  return { status: 200 as const, body: toSubmission(existing, linked.count) }
}

/**
 * Verifies, routes and stores a signed referral. The directory reads come from the cache; the
 * statement that stores the referral re-checks what they decided, and a refusal is decided again on
 * fresh rows, so a stale entry can delay nothing but an error. Nothing is written on failure.
 */
export async function submitReferral(
  deps: ReferralDeps,
  caller: { id: string; country: string },
  jws: string,
  requestId: string,
  clientGone?: AbortSignal,
): Promise<{ status: 200 | 201; body: SubmissionResult }> {
  const verified = await verifySignedDocument(deps.directory, caller.id, jws, REFERRAL_TYP)
  const document = parseDocument(verified.payload)
  if (document.sender !== caller.id) {
    throw new HubError('TRM_SENDER_MISMATCH', 'The document must name the calling agency as sender.', {
      pointer: '/sender',
    })
  }
  const accepted = { caller, jws, document, verified, requestId, clientGone }
  try {
    try {
      return await store(deps, accepted, await route(deps.directory, document))
    } catch (error) {
      if (!(error instanceof HubError) || !DECIDED_BY_DIRECTORY.has(error.code)) throw error
      forgetRoute(deps.directory, document)
      return await store(deps, accepted, await route(deps.directory, document))
    }
  } catch (error) {
    // A document stored before answers as a replay (or a mismatch), whatever changed since.
    if (error instanceof HubError && !NOT_A_REFUSAL.has(error.code)) {
      const existing = await repo.findReferral(deps.db, document.id)
      if (existing) return replayOrRefuse(deps.db, existing, caller.id, verified.payloadSha256)
    }
    throw error
  }
}

interface Accepted {
  caller: { id: string; country: string }
  jws: string
  document: ReferralDocument
  verified: VerifiedDocument
  requestId: string
  clientGone: AbortSignal | undefined
}

async function store(
  deps: ReferralDeps,
  accepted: Accepted,
  { recipient, encryptionKid }: Route,
): Promise<{ status: 201; body: SubmissionResult }> {
  const { caller, jws, document, verified, requestId, clientGone } = accepted
  const submittedAt = deps.now()
  const due = ackDueAt(submittedAt, document.urgency, document.victim.minor, deps.config.deadlines)
  const receipt = await signHubStatement(deps.hubKeys, RECEIPT_TYP, {
    referralId: document.id,
    sender: caller.id,
    recipient: recipient.id,
    payloadSha256: verified.payloadSha256,
    receivedAt: submittedAt.toISOString(),
  })
  const referral: SubmittedReferral = {
    id: document.id,
    sender_id: caller.id,
    recipient_id: recipient.id,
    sender_country: caller.country,
    recipient_country: recipient.country,
    status: 'submitted',
    urgency: document.urgency,
    stage: document.stage,
    victim_reference: document.victim.reference ?? newVictimReference(),
    age_group: document.victim.ageGroup,
    minor: document.victim.minor,
    gender: document.victim.gender,
    citizenship: document.victim.citizenship,
    exploitation_forms: document.exploitation.forms,
    exploitation_countries: document.exploitation.countries,
    identified_in: document.exploitation.identifiedIn,
    needs: document.needs,
    consent_status: document.consent.status,
    has_sensitive: document.sensitive !== undefined,
    payload_sha256: verified.payloadSha256,
    receipt,
    document_created_at: document.createdAt,
    submitted_at: submittedAt,
    ack_due_at: due,
  }
  // No copy of the JWS: the message shows the referral's (inbox.repository MESSAGE_COLUMNS).
  const inboxMessage = inboxMessageRow({
    id: newId(),
    agencyId: recipient.id,
    type: 'referral',
    referralId: referral.id,
  })
  let linked: number
  try {
    ;({ linked } = await deps.submissions.write(
      {
        referral,
        jws,
        linkageToken: document.victim.linkageToken ?? null,
        inboxMessage,
        deadline: outboxRow({
          queue: 'deadlines',
          name: 'ack-deadline',
          payload: { referralId: referral.id },
          runAt: due,
        }),
        webhook: outboxRow({ queue: 'webhooks', name: 'deliver', payload: { messageId: inboxMessage.id } }),
        audit: auditEventRow({
          actor: caller.id,
          action: 'referral.submitted',
          target: { type: 'referral', id: referral.id },
          referralId: referral.id,
          requestId,
          outcome: 'success',
          details: {
            recipient: recipient.id,
            urgency: referral.urgency,
            payloadSha256: referral.payload_sha256,
          },
        }),
      },
      {
        lockKey: `referral:${caller.id}:${document.id}`,
        senderId: caller.id,
        signingKey: verified.key,
        recipientId: recipient.id,
        recipientKind: recipient.kind,
        recipientCountry: 'country' in document.recipient ? document.recipient.country : undefined,
        encryptionKid,
        victimReference: document.victim.reference,
      },
      clientGone,
    ))
  } catch (error) {
    throw refusalFor(deps.directory, error, document, caller.id)
  }
  const schema = deps.config.databaseSchema
  void notifySoon(
    deps.db,
    new Map([
      [inboxChannel(schema), new Set([recipient.id])],
      [outboxChannel(schema), new Set([''])],
    ]),
  )
  return {
    status: 201,
    body: {
      id: referral.id,
      status: referral.status,
      recipient: { agencyId: recipient.id, country: recipient.country },
      victimReference: referral.victim_reference,
      submittedAt: submittedAt.toISOString(),
      ackDueAt: due.toISOString(),
      receipt,
      possibleDuplicates: linked,
    },
  }
}

/** The refusal a submission the statement did not write stands for; other errors pass unchanged. */
function refusalFor(directory: DirectoryCache, error: unknown, document: ReferralDocument, callerId: string) {
  if (error instanceof SubmissionNotQueued) {
    return error.reason === 'queue-full'
      ? new HubError(
          'TRM_OVERLOADED',
          'The hub has more referrals waiting than it takes; nothing was stored. Retry after the time in Retry-After.',
          {
            headers: { 'retry-after': '1' },
          },
        )
      : new HubError(
          'TRM_BAD_REQUEST',
          'The client closed the connection before the referral was written; nothing was stored.',
        )
  }
  if (!(error instanceof SubmissionRefused)) return error
  switch (error.refusal) {
    // The id is taken: replay or mismatch, decided by the caller from the stored row.
    case 'TRM_ID_TAKEN':
      return refusals.TRM_DUPLICATE_MISMATCH()
    case 'TRM_IN_PROGRESS':
    case 'TRM_SENSITIVE_INVALID':
    case 'TRM_VICTIM_REFERENCE_UNKNOWN':
      return refusals[error.refusal]()
    case 'TRM_RECIPIENT_INVALID':
      return refusals.TRM_RECIPIENT_INVALID(document)
    case 'TRM_AUTH_UNAUTHENTICATED':
    case 'TRM_KEY_UNKNOWN':
      // The caller or its key changed since the cache read them.
      directory.forget(callerId)
      return refusals[error.refusal]()
  }
}
