// Table types, one interface per table (Kysely). Columns mirror migrations/.
export interface Database {}
