/**
 * Per-call choice between the direct path and the relays, on the edge:
 *
 *   POST /v1/calls/choice  {room}                               -> {path, forceRelay, reason, ...}
 *   POST /v1/calls/report  {room, path, rttMs, loss, jitterMs}  -> 202 {accepted, peer}
 *
 * A client asks for the choice when its call connects (the edge notes its network prefix and
 * country in the room) and reports at the end what getStats measured on the path it took. The
 * report is filed under the pair of prefixes (and of countries, and overall) of the reporter and
 * the room's other participant, and is accepted once per participant and room, only from a
 * client that asked for the choice in that room: client reports are untrusted input, bounded per
 * source. The decision itself is src/allocation/call-choice.ts; this file only executes it.
 * Must not import relay/.
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, Env } from 'hono';
import {
  type CallChoiceOptions,
  callLevelKeys,
  chooseCallPath,
  DEFAULT_CALL_CHOICE,
} from '../../src/allocation/call-choice.ts';
import type { CallQualityStore } from '../../src/allocation/call-store.ts';
import { networkPrefix } from '../../src/allocation/learned.ts';
import type { Answer, CallChoiceAnswer, CallReportAnswer } from '../answers.ts';
import { callChoiceRoute, callReportRoute } from '../api-routes.ts';
import { problem } from '../problems.ts';
import { CallChoiceRequest, CallReportRequest } from '../schemas.ts';
import { validJson } from '../validation.ts';

export interface CallRoutesDeps {
  readonly store: CallQualityStore;
  readonly clientIp: (c: Context) => string | undefined;
  /** The client's country (ISO 3166 alpha-2) from the platform or GeoIP, if known. */
  readonly country?: ((c: Context) => string | undefined) | undefined;
  readonly now: () => number;
  readonly random: () => number;
  readonly options?: CallChoiceOptions | undefined;
}

export function registerCallRoutes<E extends Env>(app: OpenAPIHono<E>, deps: CallRoutesDeps): void {
  const o = deps.options ?? DEFAULT_CALL_CHOICE;
  const who = (c: Context) => {
    const ip = deps.clientIp(c);
    const prefix = ip ? networkPrefix(ip) : undefined;
    const country = deps.country?.(c)?.toUpperCase() ?? '??';
    return prefix ? { prefix, country } : undefined;
  };

  app.openAPIRegistry.registerPath(callChoiceRoute);
  app.post('/v1/calls/choice', validJson(CallChoiceRequest), async (c) => {
    const { room } = c.req.valid('json');
    const me = who(c);
    if (!me) return problem(c, 400, 'Unknown client address', 'the edge could not tell the client network');
    const t = deps.now();
    try {
      const people = await deps.store.join(room, me, t);
      const peer = [...people].reverse().find((p) => p.prefix !== me.prefix);
      // Without a peer yet only the overall level applies; ask again when the peer is in.
      const keys = peer ? callLevelKeys(me.prefix, me.country, peer.prefix, peer.country) : ['all'];
      const [direct, relay] = await Promise.all([
        deps.store.quality(keys, 'direct', t),
        deps.store.quality(keys, 'relay', t),
      ]);
      const choice = chooseCallPath({ direct, relay }, t, deps.random, o);
      const round = (e: { poor: number; rttMs: number; calls: number }) => ({
        poor: Math.round(e.poor * 1000) / 1000,
        rttMs: Math.round(e.rttMs),
        calls: Math.round(e.calls * 10) / 10,
      });
      return c.json(
        {
          room,
          path: choice.path,
          forceRelay: choice.path === 'relay',
          reason: peer ? choice.reason : 'no peer yet',
          expected: { direct: round(choice.direct), relay: round(choice.relay) },
        } satisfies Answer<typeof CallChoiceAnswer>,
        200,
      );
    } catch {
      return problem(c, 503, 'Call store unavailable', 'the call store could not be read; retry shortly');
    }
  });

  app.openAPIRegistry.registerPath(callReportRoute);
  app.post('/v1/calls/report', validJson(CallReportRequest), async (c) => {
    const r = c.req.valid('json');
    const report = { path: r.path, rttMs: r.rttMs, loss: r.loss, jitterMs: r.jitterMs };
    const me = who(c);
    if (!me) return problem(c, 400, 'Unknown client address', 'the edge could not tell the client network');
    const t = deps.now();
    try {
      const people = await deps.store.join(r.room, me, t);
      const peer = [...people].reverse().find((p) => p.prefix !== me.prefix);
      if (!peer)
        return problem(c, 409, 'No peer', 'nobody else asked for a choice in this room; nothing to learn');
      if (!(await deps.store.markReported(r.room, me.prefix, t)))
        return problem(c, 409, 'Already reported', 'one report per participant and room');
      const keys = callLevelKeys(me.prefix, me.country, peer.prefix, peer.country);
      await deps.store.record(keys, report, t);
      return c.json(
        { accepted: true as const, path: report.path, levels: keys.length } satisfies Answer<
          typeof CallReportAnswer
        >,
        202,
      );
    } catch {
      return problem(c, 503, 'Call store unavailable', 'the call store could not be read; retry shortly');
    }
  });
}
