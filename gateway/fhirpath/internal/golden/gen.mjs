// gen.mjs writes ../../testdata/golden/extraction.jsonl.gz: for every resource of the
// official R4 examples package and every SearchParameter of that package whose base is
// the resource's type (or Resource, or DomainResource for domain resources), the values
// HL7's fhirpath.js selects with the parameter's expression. golden_test.go checks the
// Go engine against it.
//
// Usage: cd gateway/fhirpath/internal/golden && npm ci && node gen.mjs [package-dir]
// The package dir defaults to $FHIRGW_FHIR_EXAMPLES, then to
// .cache/fhir/hl7.fhir.r4.examples-4.0.1/package at the repository root
// (`make fhir-examples` fetches it).
//
// resolve(): fhirpath.js 4 fetches references from a FHIR server, asynchronously.
// Extraction has no server, so the generator replaces resolve() with what the Go engine
// does without a resolver: "#id" is the root resource's contained resource with that id,
// and "Type/id" (relative, absolute, or with /_history/v) is a stub {resourceType, id}.
// That keeps where(resolve() is Patient) comparable; the rest of every expression is
// evaluated by fhirpath.js alone.
//
// Two R4 readings fhirpath.js does not share make a pair fail; such a pair is evaluated
// again with its expression rewritten to the equivalent that fhirpath.js accepts, and its
// record says so in "rewrite":
//   - "as-filter": fhirpath.js follows FHIRPath N2, where `x as T` on several items is an
//     error; R4's search expressions ((Observation.component.value as Quantity)) rely on
//     the N1 reading, a filter, so `(path as T)` becomes `path.ofType(T)`.
//   - "hasExtension": fhirpath.js lacks this FHIR function; hasExtension(u) becomes
//     extension(u).exists().
// Any other failure is recorded as {"file", "param", "error"}.
//
// Composite parameters: a record of a composite parameter also has "components", one
// entry per item of "values", in the same order: for each of the parameter's components
// (SearchParameter.component, in order) what its expression selects with that item as
// the context, {"values": [...], "types": [...]} (types as fhirpath.types() names them,
// "FHIR.Quantity", "System.String"), or {"error": "..."}. %resource is the resource, as
// FHIR defines it for search expressions (MolecularSequence's components use it);
// fhirpath.js has no default for it.

import { createRequire } from 'node:module';
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const fhirpath = require('fhirpath');
const r4 = require('fhirpath/fhir-context/r4');
const { ResourceNode } = require('fhirpath/src/types');
const util = require('fhirpath/src/utilities');

const here = dirname(fileURLToPath(import.meta.url));
const root = resolvePath(here, '..', '..', '..', '..');
const pkgDir = process.argv[2] || process.env.FHIRGW_FHIR_EXAMPLES ||
  join(root, '.cache', 'fhir', 'hl7.fhir.r4.examples-4.0.1', 'package');
const outFile = join(here, '..', '..', 'testdata', 'golden', 'extraction.jsonl.gz');

// The package's demonstration parameters redefine core codes; the registry leaves them out.
const demoPrefix = 'http://hl7.org/fhir/SearchParameter/example';

// Mirrors the Go engine's referenceTypeID.
function referenceTypeID(ref) {
  const h = ref.indexOf('/_history/');
  if (h >= 0) ref = ref.slice(0, h);
  const parts = ref.split('/');
  if (parts.length < 2) return null;
  const type = parts[parts.length - 2];
  const id = parts[parts.length - 1];
  if (!/^[A-Z][A-Za-z0-9_]*$/.test(type) || id === '') return null;
  return { type, id };
}

// resolveFn replaces fhirpath.js's resolve(); see the header comment.
function resolveFn(coll) {
  const ctx = this;
  const rootRes = util.valData(ctx.dataRoot[0]);
  const out = [];
  for (const item of coll || []) {
    const v = util.valData(item);
    const ref = typeof v === 'string' ? v : (v && typeof v === 'object' ? v.reference : undefined);
    if (typeof ref !== 'string' || ref === '') continue;
    if (ref.startsWith('#')) {
      const c = (rootRes?.contained || []).find((r) => r && r.id === ref.slice(1));
      if (c) out.push(ResourceNode.makeResNode(ctx, c, null, null, null, null));
      continue;
    }
    const ti = referenceTypeID(ref);
    if (ti) {
      out.push(ResourceNode.makeResNode(ctx, { resourceType: ti.type, id: ti.id }, null, null, null, null));
    }
  }
  return out;
}

// internalStructures: resolveFn gets the evaluation context as `this` and ResourceNodes.
const rewrites = [
  {
    name: 'as-filter',
    error: /^Expected singleton on left side of 'as'/,
    apply: (x) => x.replace(/\(([A-Za-z][A-Za-z0-9_.]*) as ([A-Za-z]+)\)/g, '$1.ofType($2)'),
  },
  {
    name: 'hasExtension',
    error: /^Not implemented: hasExtension/,
    apply: (x) => x.replace(/hasExtension\(('[^']*')\)/g, 'extension($1).exists()'),
  },
];

const options = { userInvocationTable: { resolve: { fn: resolveFn, internalStructures: true } } };

function isDomainResource(type) {
  for (let t = type; t; t = r4.type2Parent[t]) {
    if (t === 'DomainResource') return true;
  }
  return false;
}

// evalComponents evaluates each component expression of a composite parameter on each
// item its main expression selects in res; n is the number of values the main
// expression gave, which the nodes must match.
function evalComponents(c, res, n, what) {
  const doc = structuredClone(res);
  const nodes = c.main(doc);
  if (nodes.length !== n) {
    throw new Error(`${what}: ${nodes.length} nodes for ${n} values`);
  }
  return nodes.map((node) => c.components.map((comp) => {
    try {
      const out = comp(node, { resource: doc });
      return { values: fhirpath.resolveInternalTypes([...out]), types: fhirpath.types(out) };
    } catch (e) {
      return { error: String(e.message || e) };
    }
  }));
}

function main() {
  const files = readdirSync(pkgDir)
    .filter((f) => f.endsWith('.json') && f !== 'package.json' && !f.startsWith('.'))
    .sort();
  const resources = [];
  for (const f of files) {
    const res = JSON.parse(readFileSync(join(pkgDir, f), 'utf8'));
    if (res && typeof res.resourceType === 'string') resources.push({ file: f, res });
  }
  const params = resources
    .filter(({ res }) => res.resourceType === 'SearchParameter' && res.expression &&
      !String(res.url).startsWith(demoPrefix))
    .map(({ res }) => res)
    .sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));

  // base type -> parameters
  const byBase = new Map();
  const compiled = new Map();
  // Composite parameters: the main expression again, returning fhirpath.js's nodes (which
  // keep the type of each item, so that a component's choice element such as value[x]
  // resolves), and each component's expression.
  const composite = new Map();
  const nodeOptions = { ...options, resolveInternalTypes: false };
  for (const p of params) {
    compiled.set(p, fhirpath.compile(p.expression, r4, options));
    if (p.type === 'composite') {
      composite.set(p, {
        main: fhirpath.compile(p.expression, r4, nodeOptions),
        components: (p.component || []).map((c) => fhirpath.compile(c.expression, r4, nodeOptions)),
      });
    }
    for (const b of p.base || []) {
      if (!byBase.has(b)) byBase.set(b, []);
      byBase.get(b).push(p);
    }
  }

  const lines = [];
  let pairs = 0;
  let errors = 0;
  let componentItems = 0;
  for (const { file, res } of resources) {
    const type = res.resourceType;
    const applicable = [...(byBase.get(type) || []), ...(byBase.get('Resource') || [])];
    if (isDomainResource(type)) applicable.push(...(byBase.get('DomainResource') || []));
    applicable.sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
    for (const p of applicable) {
      pairs++;
      let values;
      let rewrite;
      try {
        // A fresh copy: fhirpath.js annotates the objects it returns.
        values = compiled.get(p)(structuredClone(res));
      } catch (e) {
        const msg = String(e.message || e);
        const rw = rewrites.find((r) => r.error.test(msg));
        try {
          if (!rw || rw.apply(p.expression) === p.expression) throw e;
          values = fhirpath.compile(rw.apply(p.expression), r4, options)(structuredClone(res));
          rewrite = rw.name;
        } catch (e2) {
          errors++;
          lines.push(JSON.stringify({ file, param: p.url, error: String(e2.message || e2) }));
          continue;
        }
      }
      if (values.length === 0) continue;
      const rec = rewrite ? { file, param: p.url, rewrite, values } : { file, param: p.url, values };
      if (composite.has(p)) {
        rec.components = evalComponents(composite.get(p), res, values.length, `${p.url} on ${file}`);
        componentItems += rec.components.length;
      }
      lines.push(JSON.stringify(rec));
    }
  }
  mkdirSync(dirname(outFile), { recursive: true });
  const gz = gzipSync(Buffer.from(lines.join('\n') + '\n'), { level: 9 });
  // A fixed header (no mtime, OS "unknown") keeps the file byte-for-byte reproducible.
  gz.fill(0, 4, 8);
  gz[9] = 255;
  writeFileSync(outFile, gz);
  console.log(`${resources.length} resources, ${params.length} parameters, ${pairs} pairs, ` +
    `${lines.length - errors} with values, ${errors} errors, ${componentItems} composite items; ` +
    `wrote ${outFile} (${gz.length} bytes)`);
}

main();
