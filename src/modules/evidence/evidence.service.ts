import type { Kysely } from 'kysely'
import type { Config } from '../../config.js'
import type { AfterCommit, Notifications } from '../../db/after-commit.js'
import type { Database } from '../../db/types.js'
import { HubError } from '../../lib/errors.js'
import { EVIDENCE_TYP, type EvidenceClaims, type EvidenceEvent } from '../../lib/evidence.js'
import type { HubKeys } from '../../lib/hub-keys.js'
import { newId } from '../../lib/ids.js'
import { signHubStatement } from '../../lib/receipts.js'
import { recordAuditEvent } from '../ledger/audit.service.js'
import { inboxChannel } from '../ledger/inbox.service.js'
import { outboxChannel } from '../ledger/outbox.service.js'
import * as repo from './evidence.repository.js'

export interface EvidenceDeps {
  hubKeys: HubKeys
  config: Pick<Config, 'databaseSchema'>
  now?: () => Date
}

export interface EvidenceIssue {
  event: EvidenceEvent
  /** The referrals the cause concerns; those with this evidence already are left alone. */
  referralIds: readonly string[]
  requestId?: string | null
  /** When the event happened (default: now). */
  at?: Date
}

/**
 * Issues hub-signed evidence inside the caller's transaction, the one that records its cause: for
 * each referral without this event's evidence yet, a compact JWS (`typ: trm-evidence+jws`, signed with
 * the hub's current key) over `{ referralId, event, at, recipient, payloadSha256 }`, stored once (the
 * table's key), put in the sender's inbox as an `evidence` message and audited (`evidence.issued`).
 * Returns the referral ids it issued evidence for.
 */
export async function issueEvidence(
  trx: Kysely<Database>,
  afterCommit: AfterCommit,
  deps: EvidenceDeps,
  issue: EvidenceIssue,
): Promise<string[]> {
  if (issue.referralIds.length === 0) return []
  const targets = await repo.findEvidenceTargets(trx, issue.event, issue.referralIds)
  const { referralIds: _, ...rest } = issue
  return issueEvidenceFor(trx, afterCommit, deps, { ...rest, targets })
}

/**
 * issueEvidence for targets the caller has read already (in the statement that recorded the cause,
 * without this event's evidence, nor for a negative event its positive one's): one statement, in which
 * a referral given the same evidence meanwhile is left alone (the table's key).
 */
export async function issueEvidenceFor(
  trx: Kysely<Database>,
  afterCommit: AfterCommit,
  deps: EvidenceDeps,
  issue: Omit<EvidenceIssue, 'referralIds'> & { targets: readonly repo.EvidenceTarget[] },
): Promise<string[]> {
  if (issue.targets.length === 0) return []
  const rows = await signEvidence(deps, issue.event, issue.targets, issue.at)
  const issued = await repo.insertEvidence(trx, rows, issue.requestId ?? null)
  for (const [channel, payloads] of evidenceWakeups(deps, issued)) {
    for (const payload of payloads) afterCommit.notify(channel, payload)
  }
  return issued.map((row) => row.referral_id)
}

/**
 * Signs `event` evidence for each target, at `at` (default: now), as rows for the evidence store
 * (repo.insertEvidence, or evidenceCtes in a statement that records the cause). Signing comes first:
 * a statement must not wait on it.
 */
export async function signEvidence(
  deps: EvidenceDeps,
  event: EvidenceEvent,
  targets: readonly repo.EvidenceTarget[],
  at?: Date,
): Promise<repo.NewEvidence[]> {
  const when = (at ?? deps.now?.() ?? new Date()).toISOString()
  const rows: repo.NewEvidence[] = []
  for (const target of targets) {
    const claims: EvidenceClaims = {
      referralId: target.id,
      event,
      at: when,
      recipient: target.recipient_id,
      payloadSha256: target.payload_sha256,
    }
    rows.push({
      referral_id: target.id,
      event,
      recipient_id: target.recipient_id,
      sender_id: target.sender_id,
      at: when,
      jws: await signHubStatement(deps.hubKeys, EVIDENCE_TYP, { ...claims }),
      message_id: newId(),
    })
  }
  return rows
}

/** The wake-ups stored evidence asks for: its senders' inboxes, and the outbox relay for a push. */
export function evidenceWakeups(deps: EvidenceDeps, issued: readonly repo.IssuedEvidence[]): Notifications {
  const wakeups: Notifications = new Map()
  if (issued.length === 0) return wakeups
  wakeups.set(inboxChannel(deps.config.databaseSchema), new Set(issued.map((row) => row.sender_id)))
  if (issued.some((row) => row.push)) wakeups.set(outboxChannel(deps.config.databaseSchema), new Set(['']))
  return wakeups
}

export interface EvidenceView {
  event: EvidenceEvent
  at: string
  recipient: string
  jws: string
}

/**
 * A referral's evidence, for its sender and its recipient (anyone else gets the same 404 as for a
 * missing referral); the read is audited.
 */
export async function listReferralEvidence(
  deps: { db: Kysely<Database> },
  referralId: string,
  callerId: string,
  requestId: string,
): Promise<{ items: EvidenceView[] }> {
  const parties = await repo.findParties(deps.db, referralId)
  const role =
    parties?.sender_id === callerId ? 'sender' : parties?.recipient_id === callerId ? 'recipient' : undefined
  if (!role) throw new HubError('TRM_NOT_FOUND', 'No referral with this id.', { pointer: '/params/id' })
  const rows = await repo.listEvidence(deps.db, referralId)
  await recordAuditEvent(deps.db, {
    actor: callerId,
    action: 'evidence.listed',
    target: { type: 'referral', id: referralId },
    referralId,
    requestId,
    outcome: 'success',
    details: { role, count: rows.length },
  })
  return {
    items: rows.map((row) => ({
      event: row.event,
      at: row.at.toISOString(),
      recipient: row.recipient_id,
      jws: row.jws,
    })),
  }
}
