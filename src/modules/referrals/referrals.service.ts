import type { Kysely } from 'kysely'
import type { Static } from 'typebox'
import type { Config } from '../../config.js'
import { notifyShortly } from '../../db/after-commit.js'
import type { Database, ReferralRow } from '../../db/types.js'
import { HubError } from '../../lib/errors.js'
import { Abandoned, QueueFull } from '../../lib/group-commit.js'
import type { HubKeys } from '../../lib/hub-keys.js'
import { newId } from '../../lib/ids.js'
import { oneOf } from '../../lib/one-of.js'
import { fieldErrors } from '../../lib/problem.js'
import { RECEIPT_TYP, signHubStatement } from '../../lib/receipts.js'
import { compileInputCheck } from '../../lib/validator.js'
import type { DirectoryCache } from '../agencies/directory-cache.js'
import { auditEventRow } from '../ledger/audit.service.js'
import { inboxMessageRow } from '../ledger/inbox.repository.js'
import { inboxChannel } from '../ledger/inbox.service.js'
import { outboxChannel } from '../ledger/outbox.service.js'
import { REFERRAL_STATUSES } from './lifecycle.core.js'
import { onwardRows } from './onward.js'
import { REFERRAL_TYP, type ReferralDocument, ReferralDocumentSchema } from './referral-document.schema.js'
import { ackDueAt, newVictimReference } from './referrals.core.js'
import {
  DECIDED_BY_CALLER,
  DECIDED_BY_DIRECTORY,
  NOT_A_REFUSAL,
  refusals,
  statementRefusal,
} from './referrals.refusals.js'
import * as repo from './referrals.repository.js'
import { forgetRoute, type Route, route } from './referrals.routing.js'
import type { ReferralSubmissionResultSchema } from './referrals.schemas.js'
import { type VerifiedDocument, verifySignedDocument } from './signed-document.js'
import type { Submission, SubmissionQueue, SubmittedReferral } from './submissions.repository.js'

export interface ReferralDeps {
  db: Kysely<Database>
  hubKeys: HubKeys
  config: Pick<Config, 'deadlines' | 'databaseSchema'>
  now: () => Date
  directory: DirectoryCache
  submissions: SubmissionQueue
}

export type SubmissionResult = Static<typeof ReferralSubmissionResultSchema>

const checkDocument = compileInputCheck(ReferralDocumentSchema)

function parseDocument(payload: unknown): ReferralDocument {
  if (!checkDocument.Check(payload)) {
    throw new HubError('TRM_DOCUMENT_INVALID', 'The signed referral document does not match the schema.', {
      errors: fieldErrors(checkDocument.Errors(payload)),
    })
  }
  return payload
}

type Stored = Pick<
  ReferralRow,
  | 'id'
  | 'status'
  | 'recipient_id'
  | 'recipient_country'
  | 'victim_reference'
  | 'submitted_at'
  | 'ack_due_at'
  | 'receipt'
>

function toSubmission(row: Stored, possibleDuplicates: number): SubmissionResult {
  return {
    id: row.id,
    status: oneOf(REFERRAL_STATUSES, row.status),
    recipient: { agencyId: row.recipient_id, country: row.recipient_country },
    victimReference: row.victim_reference,
    submittedAt: row.submitted_at.toISOString(),
    ackDueAt: row.ack_due_at.toISOString(),
    receipt: row.receipt,
    possibleDuplicates,
  }
}

/**
 * The answer for a document whose id is taken: a replay of the stored one (the same sender and the
 * same payload bytes) gets the stored answer; anything else is a mismatch. With no stored referral
 * of that id, `otherwise` is the answer.
 */
async function replayOrRefuse(
  db: Kysely<Database>,
  accepted: Accepted,
  otherwise: HubError,
): Promise<{ status: 200; body: SubmissionResult }> {
  const existing = await repo.findReferral(db, accepted.document.id)
  if (!existing) throw otherwise
  if (
    existing.sender_id !== accepted.caller.id ||
    existing.payload_sha256 !== accepted.verified.payloadSha256
  )
    throw refusals.TRM_DUPLICATE_MISMATCH()
  const linked = await repo.findLinked(db, existing.id, accepted.caller.id)
  return { status: 200, body: toSubmission(existing, linked.count) }
}

/**
 * Verifies, routes and stores a signed referral. The directory reads come from the cache; the
 * statement that stores the referral re-checks what they decided, and a refusal the directory could
 * have caused is decided again on fresh entries, so a stale entry can delay nothing but an error.
 * A document stored before answers as a replay (or a mismatch), whatever changed since. Nothing is
 * written on failure.
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
  const accepted: Accepted = { caller, jws, document, verified, requestId, clientGone }
  let outcome = await attempt(deps, accepted)
  if (outcome.kind === 'refused' && DECIDED_BY_DIRECTORY.has(outcome.error.code)) {
    forgetRoute(deps.directory, document)
    outcome = await attempt(deps, accepted)
  }
  switch (outcome.kind) {
    case 'written':
      return { status: 201, body: outcome.body }
    case 'taken':
      return replayOrRefuse(deps.db, accepted, refusals.TRM_DUPLICATE_MISMATCH())
    case 'refused':
      if (NOT_A_REFUSAL.has(outcome.error.code)) throw outcome.error
      return replayOrRefuse(deps.db, accepted, outcome.error)
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

type Attempt =
  | { kind: 'written'; body: SubmissionResult }
  | { kind: 'taken' }
  | { kind: 'refused'; error: HubError }

/** Routes the document and writes it (see submissions.repository.ts); a refusal is an answer. */
async function attempt(deps: ReferralDeps, accepted: Accepted): Promise<Attempt> {
  let routed: Route
  try {
    routed = await route(deps.directory, accepted.document)
  } catch (error) {
    if (error instanceof HubError) return { kind: 'refused', error }
    throw error
  }
  const submission = await submissionOf(deps, accepted, routed)
  const outcome = await deps.submissions.submit(submission, accepted.clientGone).catch((error: unknown) => {
    if (error instanceof QueueFull) return { kind: 'not-queued' as const, error: refusals.TRM_OVERLOADED() }
    if (error instanceof Abandoned) return { kind: 'not-queued' as const, error: refusals.CLIENT_GONE() }
    throw error
  })
  switch (outcome.kind) {
    case 'not-queued':
      return { kind: 'refused', error: outcome.error }
    case 'taken':
      return outcome
    case 'refused':
      // The caller or its key changed since the cache read them.
      if (DECIDED_BY_CALLER.has(outcome.code)) deps.directory.forget(accepted.caller.id)
      return { kind: 'refused', error: statementRefusal(outcome.code, accepted.document) }
    case 'written': {
      const schema = deps.config.databaseSchema
      const notified = [routed.recipient.id, ...(outcome.notified ? [outcome.notified] : [])]
      const wakeups = new Map([[inboxChannel(schema), new Set(notified)]])
      // The relay has work only for a webhook: a push recipient's, or perhaps the onward notice's (a
      // stale cache, or a push parent sender: the relay's own sweep finds it within a second).
      if (routed.recipient.delivery_mode === 'push' || outcome.notified) {
        wakeups.set(outboxChannel(schema), new Set(['']))
      }
      void notifyShortly(deps.db, wakeups)
      return { kind: 'written', body: toSubmission(submission.referral, outcome.linked) }
    }
  }
}

/** The rows a submission writes, and the checks they are written under. */
async function submissionOf(
  deps: ReferralDeps,
  { caller, jws, document, verified, requestId }: Accepted,
  { recipient, encryptionKid }: Route,
): Promise<Submission> {
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
    consent_scope: document.consent.scope,
    handling: document.handling ?? [],
    onward_of: document.onwardOf ?? null,
    has_sensitive: document.sensitive !== undefined,
    payload_sha256: verified.payloadSha256,
    receipt,
    document_created_at: document.createdAt,
    submitted_at: submittedAt,
    ack_due_at: due,
  }
  const onward = onwardRows(document.onwardOf, {
    referralId: referral.id,
    recipient,
    actor: caller.id,
    requestId,
  })
  return {
    referral,
    jws,
    linkageToken: document.victim.linkageToken ?? null,
    // No copy of the JWS: the message shows the referral's (ledger/inbox.repository MESSAGE_COLUMNS).
    inboxMessage: inboxMessageRow({
      id: newId(),
      agencyId: recipient.id,
      type: 'referral',
      referralId: referral.id,
    }),
    onwardNotice: onward.notice,
    audit: [
      auditEventRow({
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
          ...(document.onwardOf ? { onwardOf: document.onwardOf } : {}),
        },
      }),
      ...onward.audit,
    ],
    checks: {
      lockKey: `referral:${caller.id}:${document.id}`,
      senderId: caller.id,
      signingKey: verified.key,
      recipientId: recipient.id,
      recipientKind: recipient.kind,
      recipientCountry: 'country' in document.recipient ? document.recipient.country : null,
      encryptionKid: encryptionKid ?? null,
      onwardOf: document.onwardOf ?? null,
      victimReference: document.victim.reference ?? null,
    },
  }
}
