// Creates the database DATABASE_URL names when it does not exist yet, connecting to the server's
// `postgres` database to do so. Used by scripts/dev-env.sh for the development database.
import pg from 'pg'

const url = new URL(process.argv[2])
const name = decodeURIComponent(url.pathname.slice(1))
if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) {
  process.stderr.write(`dev-database: ${name} is not a plain database name\n`)
  process.exit(2)
}
const maintenance = new URL(url)
maintenance.pathname = '/postgres'
const client = new pg.Client({ connectionString: maintenance.href, connectionTimeoutMillis: 5000 })
try {
  await client.connect()
  const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name])
  if (rowCount === 0) {
    await client.query(`create database ${name}`)
    process.stderr.write(`dev-database: created database ${name}\n`)
  }
} catch (error) {
  // 42P04: created meanwhile by another start
  if (error.code !== '42P04') {
    process.stderr.write(`dev-database: cannot create database ${name} at ${url.host}: ${error.message}\n`)
    process.exit(1)
  }
} finally {
  await client.end().catch(() => {})
}
