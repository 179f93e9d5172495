// Runs the GraphQL-over-HTTP server audits of `graphql-http` against a running portal and
// prints one JSON line: [{ id, name, status: "ok" | "warn" | "error", reason }].
// Used by api/tests/it/http/audit.rs; `npm ci` in this folder installs the package.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs http://127.0.0.1:PORT/graphql');
  process.exit(2);
}
const results = await auditServer({ url });
const summary = results.map((r) => ({
  id: r.id,
  name: r.name,
  status: r.status,
  reason: r.reason ?? null,
}));
console.log(JSON.stringify(summary));
