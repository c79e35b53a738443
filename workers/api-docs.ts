/**
 * The API reference page (GET /docs): the OpenAPI document (workers/openapi.ts) rendered on the
 * server into one self-contained HTML page, with no script, no fetch and no CDN, so it works
 * offline and under a CSP of `default-src 'none'` with inline style only. Lists each operation
 * with its security, request body, answers and problem statuses, then every named schema.
 * Runtime-free. Must not import relay/.
 */

type Json = Record<string, unknown>;

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (ch) => ESCAPES[ch]!);

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const refName = (ref: string) => ref.slice(ref.lastIndexOf('/') + 1);
const anchor = (name: string) => `schema-${name.replace(/[^A-Za-z0-9_-]/g, '-')}`;

/** A short type: `string`, `integer 1..5`, `array of Probe`, a link for a named schema. */
function typeText(s: unknown): string {
  if (!isObj(s)) return 'any';
  if (typeof s.$ref === 'string') {
    const name = refName(s.$ref);
    return `<a href="#${anchor(name)}">${escapeHtml(name)}</a>`;
  }
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const list = s[key];
    if (Array.isArray(list)) return list.map(typeText).join(key === 'allOf' ? ' and ' : ' or ');
  }
  const types = Array.isArray(s.type) ? s.type.join(' or ') : typeof s.type === 'string' ? s.type : 'object';
  if (types === 'array') return `array of ${typeText(s.items)}`;
  if (Array.isArray(s.enum))
    return `${types}: ${s.enum.map((v) => `<code>${escapeHtml(String(v))}</code>`).join(' | ')}`;
  if ('const' in s) return `<code>${escapeHtml(JSON.stringify(s.const))}</code>`;
  return escapeHtml(types);
}

/** Limits a reader needs: ranges, lengths, patterns, defaults. */
function rules(s: Json): string {
  const out: string[] = [];
  const range = (lo: unknown, hi: unknown, unit: string) => {
    if (lo !== undefined && hi !== undefined) out.push(`${lo}..${hi}${unit}`);
    else if (lo !== undefined) out.push(`≥ ${lo}${unit}`);
    else if (hi !== undefined) out.push(`≤ ${hi}${unit}`);
  };
  range(s.minimum, s.maximum, '');
  range(s.minLength, s.maxLength, ' chars');
  range(s.minItems, s.maxItems, ' items');
  if (s.uniqueItems) out.push('no repeats');
  if (typeof s.pattern === 'string') out.push(`matches <code>${escapeHtml(s.pattern)}</code>`);
  if ('default' in s) out.push(`default <code>${escapeHtml(JSON.stringify(s.default))}</code>`);
  return out.join(', ');
}

/** An object schema as a table of its fields; other schemas as one line. */
function schemaBlock(s: unknown, depth = 0): string {
  if (!isObj(s)) return '';
  if (typeof s.$ref === 'string' || !isObj(s.properties)) {
    const limits = isObj(s) ? rules(s) : '';
    const desc = typeof s.description === 'string' ? ` — ${escapeHtml(s.description)}` : '';
    return `<p>${typeText(s)}${limits ? ` (${limits})` : ''}${desc}</p>`;
  }
  const required = new Set(Array.isArray(s.required) ? s.required.map(String) : []);
  const rows = Object.entries(s.properties).map(([name, sub]) => {
    const p = isObj(sub) ? sub : {};
    const nested =
      depth < 2 && isObj(p.properties)
        ? schemaBlock(p, depth + 1)
        : depth < 2 && isObj(p.items) && isObj(p.items.properties)
          ? schemaBlock(p.items, depth + 1)
          : '';
    return `<tr><td><code>${escapeHtml(name)}</code>${required.has(name) ? ' <span class="req">required</span>' : ''}</td><td>${typeText(p)}</td><td>${rules(p)}</td><td>${escapeHtml(String(p.description ?? ''))}${nested}</td></tr>`;
  });
  const closed =
    s.additionalProperties === false ? '<p class="note">No other fields: an unknown one is refused.</p>' : '';
  const desc = typeof s.description === 'string' ? `<p>${escapeHtml(s.description)}</p>` : '';
  return `${desc}<table><thead><tr><th>field</th><th>type</th><th>limits</th><th>meaning</th></tr></thead><tbody>${rows.join('')}</tbody></table>${closed}`;
}

function content(c: unknown): string {
  if (!isObj(c)) return '';
  return Object.entries(c)
    .map(
      ([type, media]) =>
        `<p class="media"><code>${escapeHtml(type)}</code></p>${isObj(media) ? schemaBlock(media.schema) : ''}`,
    )
    .join('');
}

function operation(path: string, method: string, op: Json): string {
  const id = `op-${method}-${path.replace(/[^A-Za-z0-9]+/g, '-')}`;
  const security = Array.isArray(op.security)
    ? op.security
        .flatMap((req) => (isObj(req) ? Object.keys(req) : []))
        .map((n) => `<code>${escapeHtml(n)}</code>`)
    : [];
  const body = isObj(op.requestBody)
    ? `<h4>Request body${op.requestBody.required ? '' : ' (optional: an empty body is {})'}</h4>${content(op.requestBody.content)}`
    : '';
  const responses = isObj(op.responses)
    ? Object.entries(op.responses)
        .map(([status, r]) => {
          const res = isObj(r) ? r : {};
          const cls = status.startsWith('2') ? 'ok' : 'err';
          return `<div class="response"><h5><span class="status ${cls}">${escapeHtml(status)}</span> ${escapeHtml(String(res.description ?? ''))}</h5>${status.startsWith('2') ? content(res.content) : ''}</div>`;
        })
        .join('')
    : '';
  return `<section class="op" id="${id}"><h3><span class="method ${escapeHtml(method)}">${escapeHtml(method.toUpperCase())}</span> <code>${escapeHtml(path)}</code></h3>
<p>${escapeHtml(String(op.summary ?? ''))}</p>${typeof op.description === 'string' ? `<p class="note">${escapeHtml(op.description)}</p>` : ''}
${security.length ? `<p>Authorization: ${security.join(' or ')}</p>` : '<p>No authorization.</p>'}${body}<h4>Answers</h4>${responses}</section>`;
}

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem 2rem;color:#1b1f24}
h1{margin-bottom:0}nav ul{columns:2;padding-left:1.2rem}code{font:13px ui-monospace,monospace;background:#f1f3f5;padding:0 .25rem;border-radius:3px}
.op{border-top:1px solid #d0d7de;padding-top:.5rem;margin-top:1.5rem}.method{font:bold 13px ui-monospace,monospace;padding:.1rem .4rem;border-radius:4px;color:#fff;background:#6e7781}
.method.post{background:#1f6feb}.method.get{background:#1a7f37}table{border-collapse:collapse;width:100%;margin:.3rem 0}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f6f8fa}
.req{color:#cf222e;font-size:12px}.note{color:#57606a}.status{font:bold 13px ui-monospace,monospace}.status.ok{color:#1a7f37}.status.err{color:#cf222e}
.response h5{margin:.4rem 0;font-size:14px;font-weight:normal}.media{margin:.2rem 0}`;

/** The whole page for one OpenAPI 3.1 document. */
export function renderApiDocs(doc: unknown): string {
  const d = isObj(doc) ? doc : {};
  const info = isObj(d.info) ? d.info : {};
  const title = escapeHtml(String(info.title ?? 'API'));
  const paths = isObj(d.paths) ? d.paths : {};
  const ops: { path: string; method: string; op: Json }[] = [];
  for (const [path, item] of Object.entries(paths))
    if (isObj(item))
      for (const [method, op] of Object.entries(item)) if (isObj(op)) ops.push({ path, method, op });
  const components = isObj(d.components) ? d.components : {};
  const schemas = isObj(components.schemas) ? components.schemas : {};
  const schemes = isObj(components.securitySchemes) ? components.securitySchemes : {};
  const toc = ops
    .map(
      ({ path, method, op }) =>
        `<li><a href="#op-${method}-${path.replace(/[^A-Za-z0-9]+/g, '-')}">${escapeHtml(method.toUpperCase())} ${escapeHtml(path)}</a> — ${escapeHtml(String(op.summary ?? ''))}</li>`,
    )
    .join('');
  const schemeRows = Object.entries(schemes)
    .map(([name, s]) => {
      const x = isObj(s) ? s : {};
      const how =
        x.type === 'apiKey' ? `header ${String(x.name)}` : `Authorization: ${String(x.scheme ?? '')}`;
      return `<tr><td><code>${escapeHtml(name)}</code></td><td>${escapeHtml(how)}</td><td>${escapeHtml(String(x.description ?? ''))}</td></tr>`;
    })
    .join('');
  const problemStatuses = new Map<string, string>();
  for (const { op } of ops)
    if (isObj(op.responses))
      for (const [status, r] of Object.entries(op.responses))
        if (!status.startsWith('2') && isObj(r) && !problemStatuses.has(status))
          problemStatuses.set(status, String(r.description ?? ''));
  const problems = [...problemStatuses]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(
      ([s, text]) =>
        `<tr><td><span class="status err">${escapeHtml(s)}</span></td><td>${escapeHtml(text)}</td></tr>`,
    )
    .join('');
  const schemaSections = Object.entries(schemas)
    .map(
      ([name, s]) => `<section id="${anchor(name)}"><h3>${escapeHtml(name)}</h3>${schemaBlock(s)}</section>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title}: API reference</title><style>${STYLE}</style></head>
<body><header><h1>${title}</h1><p>${escapeHtml(String(info.description ?? ''))}</p>
<p>OpenAPI ${escapeHtml(String(d.openapi ?? ''))} document: <a href="/v1/openapi.json">/v1/openapi.json</a></p></header>
<nav><h2>Operations</h2><ul>${toc}</ul></nav>
<h2>Authorization</h2><table><thead><tr><th>scheme</th><th>sent as</th><th>what</th></tr></thead><tbody>${schemeRows}</tbody></table>
<h2>Problems</h2><p>Every error is <code>application/problem+json</code> (RFC 9457): <a href="#${anchor('Problem')}">Problem</a>, with <code>detail</code> saying what to change. <code>429</code> and <code>503</code> carry <code>Retry-After</code>.</p>
<table><thead><tr><th>status</th><th>meaning</th></tr></thead><tbody>${problems}</tbody></table>
<main><h2>Operations</h2>${ops.map(({ path, method, op }) => operation(path, method, op)).join('\n')}</main>
<h2>Schemas</h2>${schemaSections}
</body></html>`;
}
