/**
 * npm run fuzz -- --seed N --messages M [--protocol udp|stream|tls|backbone|edge|all] [--json FILE]
 *
 * A seeded fuzz run against live processes it starts (two relays with a backbone, the Node edge,
 * a Redis prefix of its own): test/support/fuzz-run.ts does the work, this is its command line.
 * Prints progress to stderr and a summary to stdout; exits 0 when every check passed, 1 when one
 * failed (each failure on its own line), 2 on a bad argument.
 */
import { writeFileSync } from 'node:fs';
import {
  type FuzzOptions,
  type FuzzReport,
  PROTOCOLS,
  type Protocol,
  runFuzz,
} from '../test/support/fuzz-run.ts';

const HELP = `usage: npm run fuzz -- --seed N --messages M [options]

Sends M random and mutated messages per protocol to live processes this starts (two relays with
a backbone, the Node edge, Redis at REDIS_URL or 127.0.0.1:6379 under a prefix of its own), then
checks they still serve, that a steady call across the backbone lost nothing, and that heap, file
descriptors and sockets came back to their baseline. Same seed, same messages.

  --seed N              seed of every generator (an integer, 0 to 4294967295)
  --messages M          messages per protocol (1 to 100000000)
  --protocol P          udp, stream (TCP), tls, backbone, edge, or all (default all); repeatable
  --rate N              messages a second per protocol at most (default 50000)
  --max-seconds S       each protocol stops after S seconds, and the run fails (default 3600)
  --settle-seconds S    rest before the final samples (default 45: the relay keeps answers 40 s)
  --json FILE           write the results as JSON
  --help                this text

Exit code: 0 passed, 1 a check failed, 2 bad arguments.`;

export type FuzzArgs =
  | { help: true }
  | { help: false; options: Omit<FuzzOptions, 'progress'>; json?: string };

/** Parses the command line; throws an Error whose message is the one-line complaint. */
export function parseFuzzArgs(argv: readonly string[]): FuzzArgs {
  let seed: number | undefined;
  let messages: number | undefined;
  let json: string | undefined;
  const protocols = new Set<Protocol>();
  let rate = 50_000;
  let maxSeconds = 3600;
  let settleSeconds = 45;
  const int = (flag: string, raw: string | undefined, min: number, max: number): number => {
    if (raw === undefined) throw new Error(`${flag}: needs a value`);
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max)
      throw new Error(`${flag}: expected an integer from ${min} to ${max}, got "${raw}"`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => argv[++i];
    if (flag === '--help' || flag === '-h') return { help: true };
    else if (flag === '--seed') seed = int(flag, value(), 0, 0xffffffff);
    else if (flag === '--messages') messages = int(flag, value(), 1, 100_000_000);
    else if (flag === '--rate') rate = int(flag, value(), 1, 10_000_000);
    else if (flag === '--max-seconds') maxSeconds = int(flag, value(), 1, 86_400);
    else if (flag === '--settle-seconds') settleSeconds = int(flag, value(), 0, 3600);
    else if (flag === '--json') {
      json = value();
      if (!json) throw new Error('--json: needs a file name');
    } else if (flag === '--protocol') {
      const p = value();
      if (p === 'all') for (const x of PROTOCOLS) protocols.add(x);
      else if ((PROTOCOLS as readonly string[]).includes(p ?? '')) protocols.add(p as Protocol);
      else throw new Error(`--protocol: expected one of ${PROTOCOLS.join(', ')} or all, got "${p ?? ''}"`);
    } else throw new Error(`unknown option "${flag}" (see --help)`);
  }
  if (seed === undefined) throw new Error('--seed: required (see --help)');
  if (messages === undefined) throw new Error('--messages: required (see --help)');
  const chosen = protocols.size === 0 ? [...PROTOCOLS] : PROTOCOLS.filter((p) => protocols.has(p));
  return {
    help: false,
    options: { seed, messages, protocols: chosen, rate, maxSeconds, settleSeconds },
    json,
  };
}

export function summary(r: FuzzReport): string {
  const lines = [
    `fuzz seed ${r.seed}, ${r.messagesPerProtocol} messages per protocol, ${r.seconds.toFixed(0)} s`,
  ];
  for (const p of r.protocols)
    lines.push(
      `  ${p.protocol.padEnd(9)} ${String(p.messages).padStart(9)} messages  ${p.seconds.toFixed(1).padStart(7)} s  ${Math.round(p.messages / Math.max(p.seconds, 0.001))}/s`,
    );
  for (const [i, c] of r.call.entries())
    lines.push(`  steady call ${i === 0 ? 'A->B' : 'B->A'}: ${c.received}/${c.sent} packets, ${c.lost} lost`);
  for (const [name, { baseline: b, final: f }] of Object.entries(r.processes))
    lines.push(
      `  ${name.padEnd(8)} heap ${(b.heap / 1e6).toFixed(1)} -> ${(f.heap / 1e6).toFixed(1)} MB, rss ${(b.rss / 1e6).toFixed(0)} -> ${(f.rss / 1e6).toFixed(0)} MB, fds ${b.fds} -> ${f.fds}, udp ${b.udp} -> ${f.udp}, tcp ${b.tcp} -> ${f.tcp}`,
    );
  lines.push(r.failures.length === 0 ? 'PASSED' : `FAILED:\n${r.failures.map((f) => `  ${f}`).join('\n')}`);
  return lines.join('\n');
}

async function main(): Promise<number> {
  let args: FuzzArgs;
  try {
    args = parseFuzzArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`fuzz: ${(err as Error).message}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const report = await runFuzz({ ...args.options, progress: (l) => process.stderr.write(`${l}\n`) });
  if (args.json) writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${summary(report)}\n`);
  return report.failures.length === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`fuzz: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
