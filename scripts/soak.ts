/**
 * `npm run soak -- --minutes N [--seed N] [--out DIR]`: the local stack (three relays with a
 * backbone, a redis-server of its own, the Node edge) under continuous churn while steady calls
 * run across the backbone. Every few seconds it samples each process (memory, heap, descriptors,
 * sockets, Redis keys) and the steady calls' loss; in cycles of at most five minutes it SIGKILLs
 * relay C and restarts it, kills and restarts Redis, and restarts the edge. At the end it writes
 * DIR/soak.json and DIR/soak.svg and exits 1 when something grew over the second half beyond its
 * tolerance, a steady call lost more than allowed outside its relay's kill window, a kind of
 * work stopped succeeding (src/soak/report.ts states the bounds), or the stack did not come back
 * from a disruption. Bad flags: one line, exit 2.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRng } from '../src/sim/random.ts';
import { parseSoakArgs, SOAK_USAGE } from '../src/soak/args.ts';
import { judgeSoak, type SoakEvent, type SoakMetric, type SoakSeries, soakSvg } from '../src/soak/report.ts';
import type { Sample } from '../src/soak/verdict.ts';
import { Churn } from './soak/churn.ts';
import { sampleProcesses } from './soak/sampler.ts';
import { RELAY_SPECS, type RelayId, SoakStack } from './soak/stack.ts';
import { SteadyCall } from './soak/steady.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const STEADY_PPS = 50;
/** Disruptions repeat in cycles of this length at most (shorter runs get one cycle). */
const CYCLE_S = 300;
const VICTIM: RelayId = 'C';

async function waitForRoutes(stack: SoakStack, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let all = true;
    for (const from of RELAY_SPECS) {
      const body = (await fetch(`${stack.relayHttp(from.id)}/healthz`)
        .then((r) => r.json())
        .catch(() => ({}))) as { backbone?: { routes: Record<string, string[]> } };
      for (const to of RELAY_SPECS) if (to.id !== from.id && !body.backbone?.routes[to.id]) all = false;
    }
    if (all) return;
    if (Date.now() > end) throw new Error(`backbone routes not complete within ${timeoutMs} ms`);
    await sleep(200);
  }
}

async function main(): Promise<number> {
  const parsed = parseSoakArgs(process.argv.slice(2));
  if (!parsed.ok) {
    process.stderr.write(`soak: ${parsed.error}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${SOAK_USAGE}\n`);
    return 0;
  }
  const { minutes, seed, out } = parsed.value;
  const durationS = minutes * 60;
  const sampleS = durationS <= 300 ? 2 : 5;
  const progressS = durationS <= 300 ? sampleS : 30;
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`soak: ${minutes} min, seed ${seed}, sampling every ${sampleS} s, report in ${out}/`);

  const stack = await SoakStack.start();
  let stopped = false;
  const steady: SteadyCall[] = [];
  let churn: Churn | undefined;
  const cleanup = async () => {
    if (stopped) return;
    stopped = true;
    await churn?.stop();
    await Promise.all(steady.map((c) => c.stop()));
    await stack.stop();
  };
  // However the driver ends (Ctrl-C, SIGTERM, a closed pipe, a crash), no child outlives it.
  process.once('exit', () => stack.killAll());
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.once(signal, () => void cleanup().then(() => process.exit(130)));
  process.stdout.on('error', () => process.exit(1));
  try {
    await waitForRoutes(stack, 20_000);
    const server = (id: string) => stack.turn(id as RelayId);
    for (const [a, b, n] of [
      ['A', 'B', 1],
      ['A', 'B', 2],
      ['B', 'C', 1],
      ['C', 'A', 1],
    ] as const)
      steady.push(new SteadyCall(`${a}-${b} #${n}`, [a, b], server, STEADY_PPS, durationS));
    for (const c of steady) await c.start();
    log(
      `stack up: relays ${RELAY_SPECS.map((r) => `${r.id}@${r.host}`).join(' ')}, edge ${stack.edgeBase}, redis ${stack.redisUrl}`,
    );

    const t0 = performance.now();
    const elapsed = () => (performance.now() - t0) / 1000;
    const rng = createRng(seed);
    churn = new Churn(
      {
        relays: RELAY_SPECS.map((r) => r.id),
        turn: (id) => stack.turn(id),
        edgeBase: stack.edgeBase,
        elapsed,
      },
      rng.fork('churn'),
    );
    const events: SoakEvent[] = [];
    const series = new Map<string, { process: string; metric: SoakMetric; samples: Sample[] }>();
    const disruptions: Promise<void>[] = [];
    const event = (what: string) => {
      events.push({ t: elapsed(), what });
      log(`  [${elapsed().toFixed(0).padStart(5)} s] ${what}`);
    };
    const cycle = Math.min(CYCLE_S, durationS);
    const schedule: { at: number; run: () => Promise<void> }[] = [];
    for (let start = 0; start < durationS; start += cycle) {
      schedule.push(
        {
          at: start + 0.15 * cycle,
          run: async () => {
            const hit = steady.filter((c) => c.relays.includes(VICTIM));
            await Promise.all(hit.map((c) => c.drop()));
            event(`relay ${VICTIM} SIGKILLed`);
            await stack.killRelay(VICTIM, 1000);
            await churn!.forget(VICTIM);
            event(`relay ${VICTIM} restarted`);
            await Promise.all(hit.map((c) => c.restart(20_000)));
            event(`steady calls through ${VICTIM} back`);
          },
        },
        {
          at: start + 0.4 * cycle,
          run: async () => {
            event('redis SIGKILLed');
            await stack.restartRedis(2000);
            event('redis restarted (empty)');
          },
        },
        {
          at: start + 0.65 * cycle,
          run: async () => {
            event('edge SIGTERMed');
            await stack.restartEdge();
            event('edge restarted');
          },
        },
      );
    }
    schedule.sort((a, b) => a.at - b.at);

    let nextSample = sampleS;
    let nextProgress = progressS;
    let nextTick = 1;
    while (elapsed() < durationS) {
      const now = elapsed();
      while (schedule.length > 0 && schedule[0]!.at <= now) {
        const d = schedule.shift()!;
        disruptions.push(
          d.run().catch((err: unknown) => event(`disruption failed: ${(err as Error).message}`)),
        );
      }
      if (now >= nextTick) {
        nextTick += 1;
        churn.tick();
      }
      if (now >= nextSample) {
        nextSample += sampleS;
        const t = elapsed();
        const losses = steady.map((c) => c.account(t));
        const procs = await sampleProcesses(
          stack.pids(),
          (name) =>
            name.startsWith('relay ')
              ? stack.relayHttp(name.slice(6) as RelayId)
              : name === 'edge'
                ? stack.edgeBase
                : undefined,
          stack.redisPort,
        );
        for (const p of procs)
          for (const [metric, v] of Object.entries(p.values)) {
            const key = `${p.name}|${metric}`;
            let s = series.get(key);
            if (!s) {
              s = { process: p.name, metric: metric as SoakMetric, samples: [] };
              series.set(key, s);
            }
            s.samples.push({ t, pid: p.pid, v });
          }
        if (t >= nextProgress || t + sampleS > durationS) {
          nextProgress += progressS;
          const sent = losses.reduce((a, l) => a + l.sent, 0);
          const lost = losses.reduce((a, l) => a + l.lost, 0);
          const mem = procs
            .filter((p) => p.name !== 'driver')
            .map(
              (p) =>
                `${p.name.replace('relay ', '')} ${((p.values.rss ?? 0) / 1048576).toFixed(0)}M/${p.values.fds}fd`,
            )
            .join(' ');
          log(
            `[${t.toFixed(0).padStart(5)}/${durationS.toFixed(0)} s] steady ${sent} sent ${lost} lost | pool ${churn.poolSize} | ${mem}`,
          );
        }
      }
      await sleep(50);
    }
    const end = elapsed();
    await churn.stop();
    await Promise.all(disruptions);

    const soakSeries: SoakSeries[] = [...series.values()];
    const calls = steady.map((c) => ({ name: c.name, intervals: c.intervals }));
    const verdict = judgeSoak(soakSeries, calls, end);
    // Every kind of work still succeeds in the last quarter of the run: the stack came back.
    const serving = Object.entries(churn.ops).map(([kind, c]) => ({
      kind,
      done: c.ok,
      failed: c.failed,
      lastOk: c.lastOk,
      ok: c.lastOk >= 0.75 * end,
    }));
    // A disruption the stack did not come back from (a relay that would not start, a call that
    // could not be rebuilt) fails the run, as does a steady call still down at the end.
    const broken = [
      ...events.filter((e) => e.what.startsWith('disruption failed')).map((e) => e.what),
      ...steady.filter((c) => c.down).map((c) => `steady call ${c.name} down at the end`),
    ];
    for (const b of broken) log(`broken: ${b}`);
    const ok = verdict.ok && serving.every((s) => s.ok) && broken.length === 0;
    mkdirSync(out, { recursive: true });
    writeFileSync(
      join(out, 'soak.json'),
      `${JSON.stringify(
        {
          command: `npm run soak -- --minutes ${minutes} --seed ${seed}`,
          startedAt: new Date(Date.now() - end * 1000).toISOString(),
          durationS: end,
          sampleS,
          steadyPps: STEADY_PPS,
          ok,
          broken,
          verdict,
          serving,
          events,
          calls,
          series: soakSeries,
        },
        null,
        1,
      )}\n`,
    );
    writeFileSync(join(out, 'soak.svg'), soakSvg(soakSeries, calls, events, end));

    log('\nsteady call            sent     lost   share   excluded sent/lost   ok');
    for (const l of verdict.loss)
      log(
        `${l.call.padEnd(18)} ${String(l.sent).padStart(9)} ${String(l.lost).padStart(8)} ${(l.share * 100).toFixed(3).padStart(6)}%  ${`${l.excludedSent}/${l.excludedLost}`.padStart(17)}   ${l.ok ? 'yes' : 'NO'}`,
      );
    log('\nprocess   metric     growth in window   allowed      per hour   t      ok');
    const unit = (m: SoakMetric, v: number) =>
      m === 'rss' || m === 'heap' ? `${(v / 1048576).toFixed(1)} MiB` : v.toFixed(1);
    for (const g of verdict.growth)
      log(
        `${g.process.padEnd(9)} ${g.metric.padEnd(6)} ${unit(g.metric, g.growth).padStart(20)} ${unit(g.metric, g.allowed).padStart(12)} ${unit(g.metric, g.perHour).padStart(12)} ${(Number.isFinite(g.tStat) ? g.tStat.toFixed(1) : 'inf').padStart(6)}  ${g.judged ? (g.ok ? 'yes' : 'NO') : 'not judged'}${g.note ? ` (${g.note})` : ''}`,
      );
    const unjudged = verdict.growth.filter((g) => !g.judged || g.lives?.some((l) => !l.judged));
    if (unjudged.length > 0)
      log(
        `not judged, neither failed nor passed: ${unjudged.map((g) => `${g.process} ${g.metric} (${g.note ?? 'some lives too young'})`).join('; ')}`,
      );
    log('\nwork        ok   failed  last ok (s)  ok');
    for (const s of serving)
      log(
        `${s.kind.padEnd(9)} ${String(s.done).padStart(6)} ${String(s.failed).padStart(8)} ${s.lastOk.toFixed(0).padStart(12)}  ${s.ok ? 'yes' : 'NO'}`,
      );
    log(`\nsoak ${ok ? 'passed' : 'FAILED'}: ${join(out, 'soak.json')}, ${join(out, 'soak.svg')}`);
    return ok ? 0 : 1;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
