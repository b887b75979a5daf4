import { customType, pgSchema } from 'drizzle-orm/pg-core'

/** Every Vottery table lives in this PostgreSQL schema; Sngine's tables in `public` are never touched. */
export const vottery = pgSchema('vottery')

/** Binary column; both drivers hand back a Buffer. */
export const bytea = customType<{ data: Buffer; driverData: Buffer | Uint8Array }>({
  dataType: () => 'bytea',
  fromDriver: (value) => Buffer.from(value),
})
