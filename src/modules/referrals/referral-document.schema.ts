import { type Static, Type } from 'typebox'
import { CompactJwe, CountryCode, DateTime, Matching, Uuid } from '../../lib/schemas.js'

/**
 * The referral document an agency signs (JWS payload, `typ: trm-referral+json`). Code lists follow
 * Directive 2011/36/EU as amended by 2024/1712 (forms of exploitation), IOM HTCDS 2.0 and Primero
 * (needs, consent), CTDC (age brackets) and ICMPD's TRM-EU guidelines (stages). Closed enums and
 * `additionalProperties: false` everywhere, so no identifying detail can slip in through an extra field.
 */
const Strict = { additionalProperties: false } as const
const Country = CountryCode
const Language = Matching('^[a-z]{2}$', 2, { description: 'ISO 639-1' })
const Instant = DateTime
const uniqueList = <T extends Parameters<typeof Type.Array>[0]>(item: T, maxItems: number, minItems = 0) =>
  Type.Array(item, { uniqueItems: true, maxItems, minItems })

/** The hub's pseudonym for a victim: `V-` and 26 Crockford base32 characters. */
export const VictimReference = Matching('^V-[0-9A-HJKMNP-TV-Z]{26}$', 28)

/**
 * 128 KiB of JWE: a case file's identifying details, not its attachments. Base64url in the signed
 * payload and again in the JWS, it stays within the 200,000 characters of a submitted JWS.
 */
export const MAX_SENSITIVE_LENGTH = 131_072

export const URGENCIES = ['immediate', 'urgent', 'routine'] as const
export const STAGES = [
  'identification',
  'first_assistance',
  'long_term_assistance',
  'return',
  'proceedings',
] as const
export const AGE_GROUPS = [
  '0-8',
  '9-17',
  '18-20',
  '21-23',
  '24-26',
  '27-29',
  '30-38',
  '39-47',
  '48+',
  'unknown',
] as const
export const GENDERS = ['female', 'male', 'other', 'unknown'] as const
export const EXPLOITATION_FORMS = [
  'sexual_exploitation',
  'forced_labour',
  'forced_begging',
  'forced_criminality',
  'slavery_servitude',
  'organ_removal',
  'forced_marriage',
  'illegal_adoption',
  'surrogacy',
  'other',
] as const
export const RECRUITMENT = ['online', 'job_offer', 'intimate_partner', 'family', 'other'] as const
export const NEEDS = [
  'accommodation',
  'medical',
  'psychological',
  'legal',
  'interpretation',
  'safe_return',
  'documents',
  'financial',
  'child_protection',
  'family_tracing',
  'livelihood',
  'basic_needs',
] as const
export const CONSENT_STATUSES = ['given', 'refused', 'not_obtainable'] as const
export const CONSENT_SCOPES = ['assistance', 'law_enforcement', 'onward_sharing'] as const
export const HANDLING_CODES = ['no_onward_sharing', 'not_for_court'] as const

export const ReferralDocumentSchema = Type.Object(
  {
    id: Uuid,
    sender: Uuid,
    recipient: Type.Union([
      Type.Object({ agencyId: Uuid }, Strict),
      Type.Object({ country: Country }, Strict),
    ]),
    onwardOf: Type.Optional(
      Type.String({
        format: 'uuid',
        maxLength: 36,
        description:
          "Onward referral: the referral the sender received and hands on (its recipient only, once received, with onward_sharing consent and no no_onward_sharing handling; victim.reference must be the parent's)",
      }),
    ),
    createdAt: Instant,
    urgency: Type.Enum(URGENCIES),
    stage: Type.Enum(STAGES),
    victim: Type.Object(
      {
        reference: Type.Optional(VictimReference),
        linkageToken: Type.Optional(
          Matching('^[A-Za-z0-9_-]{43}$', 43, { description: 'base64url HMAC-SHA-256' }),
        ),
        status: Type.Enum(['presumed', 'identified'] as const),
        ageGroup: Type.Enum(AGE_GROUPS),
        minor: Type.Boolean({ description: 'Also true when age is disputed (presumption of minority)' }),
        gender: Type.Enum(GENDERS),
        citizenship: uniqueList(Country, 5),
        languages: uniqueList(Language, 10),
      },
      Strict,
    ),
    exploitation: Type.Object(
      {
        forms: uniqueList(Type.Enum(EXPLOITATION_FORMS), EXPLOITATION_FORMS.length, 1),
        countries: uniqueList(Country, 20, 1),
        identifiedIn: Country,
        recruitment: Type.Optional(uniqueList(Type.Enum(RECRUITMENT), RECRUITMENT.length)),
      },
      Strict,
    ),
    needs: uniqueList(Type.Enum(NEEDS), NEEDS.length),
    consent: Type.Object(
      {
        status: Type.Enum(CONSENT_STATUSES),
        scope: uniqueList(Type.Enum(CONSENT_SCOPES), CONSENT_SCOPES.length),
        recordedAt: Instant,
        byGuardian: Type.Boolean(),
      },
      Strict,
    ),
    handling: Type.Optional(uniqueList(Type.Enum(HANDLING_CODES), HANDLING_CODES.length)),
    sensitive: Type.Optional(
      CompactJwe(MAX_SENSITIVE_LENGTH, {
        description: 'Compact JWE (ECDH-ES+A256KW, A256GCM) to one of the recipient’s enc keys',
      }),
    ),
  },
  { ...Strict, $id: 'ReferralDocument' },
)
export type ReferralDocument = Static<typeof ReferralDocumentSchema>

export const REFERRAL_TYP = 'trm-referral+json'
