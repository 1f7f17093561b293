import { Type } from 'typebox'
import { DateTime, Uuid } from '../../lib/schemas.js'
import { CONSENT_SCOPES_WITHDRAWN } from './lifecycle.core.js'

/** The most agencies a chain's view lists per withdrawal (each sender and recipient of each link). */
export const MAX_CHAIN_HOLDERS = 100

/** A consent withdrawal of the referral's chain and who has confirmed erasing (agency ids only). */
export const ConsentWithdrawalViewSchema = Type.Object(
  {
    id: Uuid,
    scope: Type.Enum([...CONSENT_SCOPES_WITHDRAWN]),
    withdrawnBy: Uuid,
    withdrawnAt: DateTime,
    confirmBy: DateTime,
    confirmed: Type.Array(Type.Object({ agencyId: Uuid, at: DateTime }), { maxItems: MAX_CHAIN_HOLDERS }),
    pending: Type.Array(
      Type.Object({
        agencyId: Uuid,
        escalatedAt: Type.Union([DateTime, Type.Null()], {
          description: "when its country's NCP was told it had not confirmed in time",
        }),
      }),
      { maxItems: MAX_CHAIN_HOLDERS },
    ),
  },
  { $id: 'ConsentWithdrawalView' },
)
