/**
 * Seeded generators of hostile HTTP requests for the edge (workers/app.ts): every route, with
 * random JSON, valid bodies mutated field by field (wrong types, huge and non-finite numbers,
 * long and broken strings), text-level breakage (cut, bytes flipped into invalid UTF-8), deep
 * nesting, bodies past the size limit, and wrong or missing content types, methods and tokens.
 * Same seed, same requests.
 */
import { rng } from './fuzz.ts';

export interface EdgeRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: Uint8Array;
}

/** The routes that take a JSON body, with a valid body for each. */
const POST_ROUTES: readonly (readonly [string, unknown])[] = [
  [
    '/v1/allocate',
    {
      transports: ['udp', 'tcp'],
      region: 'eu',
      room: 'fuzz-room',
      user: 'fuzz-user',
      location: { lat: 48.85, lon: 2.35 },
      relays: 2,
      ttl: 600,
      probes: [{ relay: 'A', rttMs: 12 }],
    },
  ],
  ['/v1/allocate', {}],
  [
    '/v1/measurements',
    {
      probes: [
        { relay: 'A', rttMs: 10 },
        { relay: 'B', rttMs: 30 },
      ],
      probeTicket: 'x.y',
    },
  ],
  ['/v1/calls/choice', { room: 'fuzz-room' }],
  ['/v1/calls/report', { room: 'fuzz-room', direct: true, rttMs: 40 }],
  ['/v1/tokens', { client: 'fuzz-client', room: 'fuzz-room', ttl: 300 }],
  ['/v1/credentials/revoke', { username: 'fuzz-revoked-user', seconds: 60 }],
  ['/dashboard/session', { token: 'x' }],
];

const GET_ROUTES = [
  '/healthz',
  '/readyz',
  '/v1/openapi.json',
  '/v1/internal/directory',
  '/v1/admin/topology',
  '/dashboard',
  '/dashboard/app.css',
  '/v1/allocate',
  '/nope',
];

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  '',
  'json',
  'application/json; charset=\u00ff',
];

const NUMBERS = [0, -0, 1, -1, 0.5, 2 ** 31, 2 ** 32, 2 ** 53 + 2, -(2 ** 63), 1e308, -1e308, 5e-324];
/** JSON texts JSON.stringify cannot make: overflow to Infinity, huge exponents, long digits. */
const NUMBER_TEXTS = ['1e999', '-1e999', '1e-999', '123456789012345678901234567890', `0.${'9'.repeat(400)}`];

export class EdgeFuzzer {
  readonly #r: () => number;
  readonly #enc = new TextEncoder();

  constructor(
    seed: number,
    private readonly tokens: { readonly admin: string; readonly snapshot: string },
    /** The edge's largest accepted body: some bodies go past it. */
    private readonly maxBody: number,
  ) {
    this.#r = rng(seed);
  }

  #int(n: number): number {
    return Math.floor(this.#r() * n);
  }

  #pick<T>(xs: readonly T[]): T {
    return xs[this.#int(xs.length)]!;
  }

  next(): EdgeRequest {
    const kind = this.#int(20);
    if (kind === 0) return this.#get();
    const [path, valid] = this.#pick(POST_ROUTES);
    const method = this.#r() < 0.95 ? 'POST' : this.#pick(['PUT', 'PATCH', 'DELETE', 'GET', 'OPTIONS']);
    const headers: Record<string, string> = {};
    const type = this.#r() < 0.8 ? 'application/json' : this.#pick(CONTENT_TYPES);
    if (type) headers['content-type'] = type;
    this.#auth(headers);
    let text: string;
    if (kind <= 8) text = JSON.stringify(this.#mutate(structuredClone(valid), 0));
    else if (kind <= 11) text = JSON.stringify(this.#value(0));
    else if (kind <= 13) text = this.#numberText(valid);
    else if (kind === 14) text = this.#deep();
    else if (kind === 15) text = JSON.stringify({ ...(valid as object), pad: 'x'.repeat(this.maxBody) });
    else if (kind <= 17) return { method, path, headers, body: this.#breakText(JSON.stringify(valid)) };
    else text = JSON.stringify(valid);
    return { method, path, headers, body: method === 'GET' ? undefined : this.#enc.encode(text) };
  }

  #get(): EdgeRequest {
    const headers: Record<string, string> = {};
    this.#auth(headers);
    const query = this.#r() < 0.3 ? `?${this.#query()}` : '';
    return { method: 'GET', path: `${this.#pick(GET_ROUTES)}${query}`, headers };
  }

  /** Printable characters and percent-escapes of any byte (invalid UTF-8 included). */
  #query(): string {
    let q = '';
    for (let i = this.#int(60); i > 0; i--) {
      q +=
        this.#r() < 0.7
          ? String.fromCharCode(0x21 + this.#int(94)).replace(/[#%]/, '=')
          : `%${this.#int(256).toString(16).padStart(2, '0')}`;
    }
    return q;
  }

  /** The right token now and then, so the admin routes get past their check; else junk. */
  #auth(h: Record<string, string>): void {
    const r = this.#r();
    if (r < 0.15) h.authorization = `Bearer ${this.tokens.admin}`;
    else if (r < 0.2) h.authorization = `Bearer ${this.tokens.snapshot}`;
    else if (r < 0.3) h.authorization = `Bearer ${this.#string(80).replace(/[^\x21-\x7e]/g, 'a')}`;
    else if (r < 0.35) h['x-api-key'] = `rbk_${this.#int(1e9)}`;
  }

  #mutate(v: unknown, depth: number): unknown {
    if (typeof v === 'number' && this.#r() < 0.5) return this.#near(v);
    if (typeof v === 'string' && this.#r() < 0.5) return this.#variant(v);
    if (v === null || typeof v !== 'object' || depth > 3) return this.#r() < 0.5 ? this.#value(depth) : v;
    if (Array.isArray(v)) {
      if (this.#r() < 0.2) return this.#value(depth);
      if (this.#r() < 0.2) return Array.from({ length: this.#int(2000) }, () => v[0] ?? this.#value(3));
      return v.map((x) => (this.#r() < 0.3 ? this.#mutate(x, depth + 1) : x));
    }
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    const n = 1 + this.#int(3);
    for (let i = 0; i < n; i++) {
      const op = this.#int(4);
      const k = keys.length > 0 ? this.#pick(keys) : 'x';
      if (op === 0) delete o[k];
      else if (op === 1) o[this.#r() < 0.5 ? this.#string(12) : '__proto__'] = this.#value(depth + 1);
      else o[k] = this.#mutate(o[k], depth + 1);
    }
    return o;
  }

  /** A number near a valid one (still valid, often): so the handlers past validation run too. */
  #near(x: number): number {
    const r = this.#int(5);
    if (r === 0) return x + 1;
    if (r === 1) return x - 1;
    if (r === 2) return x * 2;
    if (r === 3) return Math.floor(x / 2);
    return x + this.#r();
  }

  /** The string with a character or two changed for one a client id or room name may hold. */
  #variant(s: string): string {
    const safe = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-';
    let out = s;
    for (let i = 1 + this.#int(2); i > 0; i--) {
      const at = this.#int(out.length + 1);
      out = out.slice(0, at) + safe[this.#int(safe.length)]! + out.slice(at + (this.#r() < 0.5 ? 1 : 0));
    }
    return out;
  }

  #value(depth: number): unknown {
    const t = this.#int(depth > 3 ? 5 : 7);
    if (t === 0) return null;
    if (t === 1) return this.#r() < 0.5;
    if (t === 2) return this.#r() < 0.5 ? this.#pick(NUMBERS) : (this.#r() - 0.5) * 10 ** this.#int(20);
    if (t === 3) return this.#string(this.#r() < 0.05 ? 5000 : 30);
    if (t === 4) return '';
    if (t === 5) return Array.from({ length: this.#int(6) }, () => this.#value(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = this.#int(6); i > 0; i--) o[this.#string(10)] = this.#value(depth + 1);
    return o;
  }

  /** Random UTF-16 (lone surrogates included), mostly short. */
  #string(max: number): string {
    const n = this.#int(max + 1);
    let s = '';
    for (let i = 0; i < n; i++) {
      const r = this.#r();
      s += String.fromCharCode(
        r < 0.7 ? 0x20 + this.#int(95) : r < 0.9 ? this.#int(0x800) : this.#int(0x10000),
      );
    }
    return s;
  }

  /** The valid body with one number field written as a number JSON.stringify would never write. */
  #numberText(valid: unknown): string {
    const text = JSON.stringify(valid);
    const m = [...text.matchAll(/:(-?\d+(\.\d+)?)/g)];
    if (m.length === 0) return `{"ttl":${this.#pick(NUMBER_TEXTS)}}`;
    const at = this.#pick(m);
    const i = at.index! + 1;
    return text.slice(0, i) + this.#pick(NUMBER_TEXTS) + text.slice(i + at[1]!.length);
  }

  /** Arrays or objects nested up to past the body limit (a stack-hungry parser would fall over). */
  #deep(): string {
    const depth = 1 + this.#int(Math.floor(this.maxBody / 2));
    if (this.#r() < 0.5) return `${'['.repeat(depth)}${']'.repeat(depth)}`;
    return `{"room":${'{"a":'.repeat(depth / 5)}1${'}'.repeat(depth / 5)}}`;
  }

  /** Cut, bytes flipped (invalid UTF-8), or bytes inserted. */
  #breakText(text: string): Uint8Array {
    let b = this.#enc.encode(text);
    const op = this.#int(3);
    if (op === 0) b = b.slice(0, this.#int(b.length));
    else if (op === 1)
      for (let i = 1 + this.#int(4); i > 0; i--) b[this.#int(b.length)] = 0x80 + this.#int(128);
    else {
      const at = this.#int(b.length);
      b = new Uint8Array([
        ...b.subarray(0, at),
        ...this.#enc.encode(this.#pick([',', '"', '\\', '\u0000', '}'])),
        ...b.subarray(at),
      ]);
    }
    return b;
  }
}
