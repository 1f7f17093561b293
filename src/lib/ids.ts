import { v7 } from 'uuid'

/** Hub-made ids are UUIDv7 (RFC 9562): time-ordered, so indexes stay compact and cursors follow creation. */
export const newId = (): string => v7()
