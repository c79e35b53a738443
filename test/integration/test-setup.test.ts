/**
 * scripts/test-setup.sh, which `npm test` runs first: on a machine missing a package it stops at
 * once with one line naming the apt-get command (not root), or installs with apt-get (root). The
 * script runs with a PATH of stubs: `id` says who runs it, `apt-get` records what it was asked,
 * and links to the real programs stand for the installed packages.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const SCRIPT = new URL('../../scripts/test-setup.sh', import.meta.url).pathname;
const dirs: string[] = [];

function which(cmd: string): string {
  const r = spawnSync('bash', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} is not installed here`);
  return r.stdout.trim();
}

/** A bin directory with `id -u` printing `uid`, an apt-get stub exiting `aptStatus`, and links to `present`. */
function stubs(uid: number, present: readonly string[], aptStatus = 0) {
  const dir = mkdtempSync(join(tmpdir(), 'test-setup-'));
  dirs.push(dir);
  const log = join(dir, 'apt.log');
  const script = (name: string, body: string) => {
    writeFileSync(join(dir, name), `#!${which('bash')}\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  };
  script('id', `echo ${uid}`);
  script('apt-get', `echo "$*" >> ${log}; exit ${aptStatus}`);
  // The deployment checks' tools (python3 with yaml, systemd-analyze) and the C compiler of the
  // native addon (cc; libc's headers are looked for as files) stand installed in every case.
  // (Debian's python3, whose python3-yaml the script checks; a version manager's shim on the PATH
  // would not run from here.)
  for (const cmd of [...present, 'python3', 'systemd-analyze', 'cc']) {
    const target = cmd === 'python3' && existsSync('/usr/bin/python3') ? '/usr/bin/python3' : which(cmd);
    symlinkSync(target, join(dir, cmd));
  }
  return { dir, log };
}

function run(dir: string, args: readonly string[] = [], env: Record<string, string> = {}) {
  const r = spawnSync(which('bash'), [SCRIPT, ...args], {
    env: { PATH: dir, CHROMIUM_PATH: '/nonexistent/chromium', ...env },
    encoding: 'utf8',
    timeout: 15_000,
    input: '',
  });
  return { code: r.status, lines: r.stderr.split('\n').filter(Boolean) };
}

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('the test set-up script', () => {
  it('stops at once with one line naming the command, when not root and packages are missing', () => {
    const { dir } = stubs(1000, ['redis-server', 'openssl', 'ip']);
    expect(run(dir)).toEqual({
      code: 1,
      lines: ['test-setup: missing Debian packages; run: sudo apt-get install -y coturn chromium'],
    });
  });

  it('installs what is missing with apt-get as root, and says so when that did not make it present', () => {
    const { dir, log } = stubs(0, ['redis-server', 'turnutils_uclient', 'turnutils_peer', 'ip']);
    expect(run(dir)).toEqual({
      code: 1,
      lines: [
        'test-setup: installing chromium openssl',
        'test-setup: still missing after apt-get install: chromium openssl',
      ],
    });
    expect(readFileSync(log, 'utf8').split('\n').filter(Boolean)).toEqual([
      'update -qq',
      'install -y -qq --no-install-recommends chromium openssl',
    ]);
  });

  it("asks for Go and Pion's source only with --bench, and refuses other arguments", () => {
    const { dir } = stubs(1000, ['redis-server', 'turnutils_uclient', 'turnutils_peer', 'openssl', 'ip']);
    expect(run(dir, ['--bench'], { PION_SOURCE: '/nonexistent/pion' })).toEqual({
      code: 1,
      lines: [
        'test-setup: missing Debian packages; run: sudo apt-get install -y chromium golang-go golang-github-pion-turn.v2-dev',
      ],
    });
    expect(run(dir, [], { PION_SOURCE: '/nonexistent/pion' }).lines).toEqual([
      'test-setup: missing Debian packages; run: sudo apt-get install -y chromium',
    ]);
    expect(run(dir, ['--fast'])).toEqual({
      code: 2,
      lines: ['test-setup: unknown argument: --fast (expected --bench or nothing)'],
    });
  });

  it('says in one line when apt-get fails', () => {
    const { dir } = stubs(0, ['redis-server', 'turnutils_uclient', 'turnutils_peer', 'openssl', 'ip'], 100);
    expect(run(dir)).toEqual({
      code: 1,
      lines: [
        'test-setup: installing chromium',
        'test-setup: apt-get install chromium failed; run it by hand to see why: apt-get install -y chromium',
      ],
    });
  });

  it('passes quietly on this machine, where everything is installed', () => {
    const r = spawnSync(which('bash'), [SCRIPT], { encoding: 'utf8', timeout: 15_000, input: '' });
    expect({ code: r.status, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  });
});
