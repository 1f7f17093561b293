import { type Static, Type } from 'typebox'
import { CountryCode, Matching, Text } from './schemas.js'

/**
 * The plaintext of a `sensitive` JWE: one JSON object (media type `application/json`, named by
 * `cty` in the JWE protected header), UTF-8, I-JSON (RFC 7493). Only the recipient reads it; the
 * hub never can, so it cannot check it either: the sender's system validates before encrypting
 * (`encryptSensitive` in src/sdk does) and the recipient's after decrypting. Every member is
 * optional and none other is allowed, so two agencies' systems read the same fields the same way.
 */
const Strict = { additionalProperties: false } as const
const Name = Text(200, { minLength: 1 })
const PartialDate = Matching('^[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$', 10, {
  description: 'YYYY, YYYY-MM or YYYY-MM-DD: as much of the date as is known',
})

export const SENSITIVE_DOCUMENT_TYPES = [
  'passport',
  'national_id',
  'residence_permit',
  'travel_document',
  'birth_certificate',
  'other',
] as const
export const SENSITIVE_CONTACT_CHANNELS = ['phone', 'email', 'postal_address', 'messaging', 'other'] as const
export const SENSITIVE_SEX = ['female', 'male', 'other', 'unknown'] as const

/** The media type of the plaintext, as `cty` names it (RFC 7516 §4.1.12, RFC 7515 §4.1.10). */
export const SENSITIVE_CTY = 'application/json'

export const SensitiveDetailsSchema = Type.Object(
  {
    language: Type.Optional(
      Matching('^[a-z]{2}$', 2, { description: 'ISO 639-1 language of the free texts below' }),
    ),
    person: Type.Optional(
      Type.Object(
        {
          givenNames: Type.Optional(Name),
          familyNames: Type.Optional(Name),
          otherNames: Type.Optional(
            Type.Array(Name, { maxItems: 10, description: 'Aliases, birth or former names' }),
          ),
          dateOfBirth: Type.Optional(PartialDate),
          placeOfBirth: Type.Optional(Name),
          sex: Type.Optional(Type.Enum(SENSITIVE_SEX)),
          nationalities: Type.Optional(Type.Array(CountryCode, { uniqueItems: true, maxItems: 5 })),
        },
        { ...Strict, description: 'Who the referral is about' },
      ),
    ),
    identityDocuments: Type.Optional(
      Type.Array(
        Type.Object(
          {
            type: Type.Enum(SENSITIVE_DOCUMENT_TYPES),
            number: Type.Optional(Text(100, { minLength: 1 })),
            issuingCountry: Type.Optional(CountryCode),
            expiresOn: Type.Optional(PartialDate),
            whereabouts: Type.Optional(
              Text(500, { description: 'Who holds the document now, if not the person (e.g. withheld)' }),
            ),
          },
          Strict,
        ),
        { maxItems: 20 },
      ),
    ),
    contacts: Type.Optional(
      Type.Array(
        Type.Object(
          {
            channel: Type.Enum(SENSITIVE_CONTACT_CHANNELS),
            value: Text(500, { minLength: 1 }),
            label: Type.Optional(Text(200, { description: 'e.g. "safe number", "shelter address"' })),
          },
          Strict,
        ),
        { maxItems: 20, description: "The person's own contacts, and when it is safe to use them" },
      ),
    ),
    guardian: Type.Optional(
      Type.Object(
        {
          name: Name,
          relationship: Type.Optional(Text(100)),
          contact: Type.Optional(Text(500)),
        },
        { ...Strict, description: "A minor's guardian or representative" },
      ),
    ),
    caseWorker: Type.Optional(
      Type.Object(
        {
          name: Name,
          role: Type.Optional(Text(200)),
          phone: Type.Optional(Text(100)),
          email: Type.Optional(Text(320)),
        },
        { ...Strict, description: "The writing agency's contact person for this case" },
      ),
    ),
    narrative: Type.Optional(Text(60_000, { description: "The person's account and the case history" })),
    note: Type.Optional(
      Text(5_000, { description: 'Short free text, e.g. the details an acknowledgement adds or asks for' }),
    ),
  },
  {
    ...Strict,
    minProperties: 1,
    $id: 'SensitiveDetails',
    description:
      'The plaintext of a sensitive JWE (cty application/json). The hub cannot read it; ' +
      'the writing system validates it before encrypting, the reading system after decrypting.',
  },
)
export type SensitiveDetails = Static<typeof SensitiveDetailsSchema>
