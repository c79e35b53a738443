/**
 * Pion's TURN server (github.com/pion/turn v2, Go) for the relay benchmark: its example server
 * `examples/turn-server/simple`, built at bench time from Debian's packaged source
 * (golang-github-pion-turn.v2-dev, with golang-go) in GOPATH mode, offline, into a folder under
 * the system's temp directory. Neither Pion's code nor the binary is kept in this repository.
 * `bash scripts/test-setup.sh --bench` installs the two packages.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where Debian's golang-github-pion-turn.v2-dev puts the source (GOPATH layout). */
export const PION_GOPATH = '/usr/share/gocode';
const PACKAGE = 'github.com/pion/turn/v2/examples/turn-server/simple';
const SOURCE = join(PION_GOPATH, 'src', PACKAGE, 'main.go');
const SETUP_HINT =
  'run `bash scripts/test-setup.sh --bench` (as root) or `apt-get install golang-go golang-github-pion-turn.v2-dev`';

export class PionUnavailableError extends Error {
  readonly code = 'ERR_PION_UNAVAILABLE';
}

/**
 * Builds Pion's example server once per source version and returns the binary's path. Throws
 * PionUnavailableError naming the packages to install when Go or Pion's source is missing.
 */
export function buildPionServer(): string {
  if (spawnSync('go', ['version']).status !== 0)
    throw new PionUnavailableError(`Pion needs Go, which is not installed: ${SETUP_HINT}`);
  if (!existsSync(SOURCE))
    throw new PionUnavailableError(`Pion's source is not installed (${SOURCE}): ${SETUP_HINT}`);
  const dir = join(tmpdir(), 'relay-backbone-bench-pion');
  const binary = join(dir, 'pion-turn-simple');
  if (existsSync(binary) && statSync(binary).mtimeMs > statSync(SOURCE).mtimeMs) return binary;
  mkdirSync(dir, { recursive: true });
  const built = spawnSync('go', ['build', '-o', binary, PACKAGE], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      GOPATH: PION_GOPATH,
      GO111MODULE: 'off',
      GOFLAGS: '',
      GOPROXY: 'off',
      GOCACHE: join(dir, 'cache'),
    },
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (built.status !== 0)
    throw new PionUnavailableError(`building Pion's example server failed:\n${built.stderr}`);
  return binary;
}
