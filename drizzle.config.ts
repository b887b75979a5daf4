import { defineConfig } from 'drizzle-kit'

// Used only by `npm run db:generate`; the app runs migrations itself (src/db/migrate.ts).
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema/index.ts',
  out: './drizzle',
  schemaFilter: ['vottery'],
  migrations: { schema: 'vottery', table: '__drizzle_migrations' },
  strict: true,
})
