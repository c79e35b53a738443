/**
 * Request bodies of the edge API and their validation: each parser returns a typed value or one
 * message a developer can act on, naming the field.
 */
export interface ProbeResult {
  readonly relay: string;
  readonly rttMs: number;
}

export interface AllocateBody {
  readonly probes: readonly ProbeResult[];
  readonly region: string | undefined;
  readonly room: string | undefined;
  /** The client's own idea of where it is; used when the platform has none. */
  readonly location: { readonly lat: number; readonly lon: number } | undefined;
}

export interface MeasurementsBody {
  readonly probes: readonly ProbeResult[];
}

type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const ID = /^[A-Za-z0-9._-]{1,64}$/;

function probes(v: unknown, field: string): Parsed<ProbeResult[]> {
  if (v === undefined) return { ok: true, value: [] };
  if (!Array.isArray(v)) return { ok: false, error: `${field} must be an array of { relay, rttMs }` };
  if (v.length > 64) return { ok: false, error: `${field} may hold at most 64 results` };
  const out: ProbeResult[] = [];
  for (const [i, p] of v.entries()) {
    if (!isObject(p) || typeof p.relay !== 'string' || !ID.test(p.relay)) {
      return { ok: false, error: `${field}[${i}].relay must be a relay id (1-64 of A-Z a-z 0-9 . _ -)` };
    }
    if (typeof p.rttMs !== 'number' || !Number.isFinite(p.rttMs) || p.rttMs < 0 || p.rttMs > 10_000) {
      return { ok: false, error: `${field}[${i}].rttMs must be a number of milliseconds from 0 to 10000` };
    }
    out.push({ relay: p.relay, rttMs: p.rttMs });
  }
  return { ok: true, value: out };
}

function optionalText(v: unknown, field: string, max: number): Parsed<string | undefined> {
  if (v === undefined) return { ok: true, value: undefined };
  if (typeof v !== 'string' || v.length === 0 || v.length > max)
    return { ok: false, error: `${field} must be a string of 1-${max} characters` };
  return { ok: true, value: v };
}

export function parseAllocate(v: unknown): Parsed<AllocateBody> {
  if (!isObject(v)) return { ok: false, error: 'the body must be a JSON object' };
  const known = new Set(['probes', 'region', 'room', 'location']);
  const extra = Object.keys(v).filter((k) => !known.has(k));
  if (extra.length > 0)
    return { ok: false, error: `unknown field ${extra[0]} (known: ${[...known].join(', ')})` };
  const p = probes(v.probes, 'probes');
  if (!p.ok) return p;
  const region = optionalText(v.region, 'region', 64);
  if (!region.ok) return region;
  const room = optionalText(v.room, 'room', 128);
  if (!room.ok) return room;
  let location: AllocateBody['location'];
  if (v.location !== undefined) {
    const l = v.location;
    if (
      !isObject(l) ||
      typeof l.lat !== 'number' ||
      typeof l.lon !== 'number' ||
      Math.abs(l.lat) > 90 ||
      Math.abs(l.lon) > 180
    ) {
      return { ok: false, error: 'location must be { lat: -90..90, lon: -180..180 }' };
    }
    location = { lat: l.lat, lon: l.lon };
  }
  return { ok: true, value: { probes: p.value, region: region.value, room: room.value, location } };
}

export function parseMeasurements(v: unknown): Parsed<MeasurementsBody> {
  if (!isObject(v)) return { ok: false, error: 'the body must be a JSON object' };
  const p = probes(v.probes, 'probes');
  if (!p.ok) return p;
  if (p.value.length === 0) return { ok: false, error: 'probes must hold at least one { relay, rttMs }' };
  return { ok: true, value: { probes: p.value } };
}
