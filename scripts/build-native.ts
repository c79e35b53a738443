/**
 * npm run build:native: compiles relay/native/native-udp.c (the --udp-io native addon) and
 * frame-mac.c (the backbone's frame tag with the node binary's own OpenSSL) with the system C
 * compiler against the headers of the Node running this script (<prefix>/include/node, and its
 * openssl/ for SHA256_CTX), into relay/native/build/native-udp.node. Node-API is ABI-stable: the
 * result loads in any Node from 20 on; the OpenSSL symbols are looked up when the addon loads (not
 * linked), so a node without them still loads it. CC overrides the compiler (default cc). Linux
 * only: the addon uses recvmmsg and sendmmsg. Exits 1 with one line when it cannot build (no
 * compiler, no headers, not Linux).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sources = ['native-udp.c', 'frame-mac.c'].map((f) => join(root, 'relay/native', f));
const out = join(root, 'relay/native/build/native-udp.node');

function fail(message: string): never {
  process.stderr.write(`build:native: ${message}\n`);
  process.exit(1);
}

if (process.platform !== 'linux') fail(`native UDP I/O is Linux only (this is ${process.platform})`);
const include = [
  join(dirname(dirname(process.execPath)), 'include/node'),
  '/usr/include/node',
  '/usr/local/include/node',
].find((dir) => existsSync(join(dir, 'node_api.h')) && existsSync(join(dir, 'openssl/sha.h')));
if (!include)
  fail(`no Node headers (node_api.h, openssl/sha.h) beside ${process.execPath}; install Node's headers`);
const cc = process.env.CC || 'cc';
mkdirSync(dirname(out), { recursive: true });
const args = [
  '-O2',
  '-std=c11',
  '-Wall',
  '-Wextra',
  '-Werror',
  '-fPIC',
  '-shared',
  '-fvisibility=hidden',
  '-DNAPI_VERSION=8',
  `-I${include}`,
  '-o',
  out,
  ...sources,
  '-ldl',
  '-lpthread',
];
const r = spawnSync(cc, args, { stdio: 'inherit' });
if (r.error)
  fail(`cannot run ${cc}: ${r.error.message} (install a C compiler: apt-get install gcc libc6-dev)`);
if (r.status !== 0) fail(`${cc} failed with exit code ${r.status}`);
process.stdout.write(`build:native: built ${out.slice(root.length + 1)}\n`);
