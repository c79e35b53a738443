/**
 * A lab network built from Linux network namespaces for deployment rehearsals: hosts (one
 * namespace each), an "Internet" namespace holding a bridge that the public hosts hang off, NAT
 * routers (nftables) with private LANs behind them. Every name carries a tag unique to this run,
 * and `destroy()` removes all of it: the processes started in it, the namespaces (with their
 * veths, bridge and nftables tables) and the per-namespace /etc/netns files. Addresses are private
 * test ranges that exist only inside these namespaces; nothing is routed to the host's network.
 *
 * Needs root, iproute2 (`ip`) and nftables (`nft`); `requireLabTools()` says what is missing.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { type LaunchOptions, type Started, startUntilReady } from './process.ts';

const has = (cmd: string, args: string[]): boolean => {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** Throws one plain line naming what to install or how to run, when the lab cannot be built here. */
export function requireLabTools(): void {
  const missing: string[] = [];
  if (process.getuid?.() !== 0)
    throw new Error('the network-namespace lab needs root (ip netns, veth, nftables): run the tests as root');
  if (!has('ip', ['-V'])) missing.push('iproute2 (for ip)');
  if (!has('nft', ['--version'])) missing.push('nftables (for nft)');
  if (!has('redis-server', ['--version']) || !has('redis-cli', ['--version'])) missing.push('redis-server');
  if (missing.length > 0)
    throw new Error(
      `the network-namespace lab needs ${missing.join(', ')}: apt-get install ${missing
        .map((m) => m.split(' ')[0])
        .join(' ')}`,
    );
}

function sh(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { input, stdio: ['pipe', 'pipe', 'pipe'], timeout: 10_000 }).toString();
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr?.toString().trim() || e.message}`);
  }
}

export class NetnsLab {
  /** Unique to this run: the prefix of every namespace name (`rbt-<pid>-<random>`). */
  readonly tag = `rbt-${process.pid.toString(36)}-${randomBytes(2).toString('hex')}`;
  readonly #namespaces: string[] = [];
  readonly #started: Started[] = [];
  readonly #daemons: ChildProcess[] = [];
  #ports = 0;
  readonly inet: string;
  /** Whether /etc/netns was there before this lab (else it removes the folder it made). */
  readonly #etcNetns = existsSync('/etc/netns');

  constructor() {
    sweepAbandonedLabs();
    // Should the test process end without afterAll (a crash, a timeout kill), still clean up.
    process.once('exit', this.#cleanUp);
    try {
      this.inet = this.host('inet');
      sh('ip', ['-n', this.inet, 'link', 'add', 'br0', 'type', 'bridge']);
      sh('ip', ['-n', this.inet, 'link', 'set', 'br0', 'up']);
    } catch (err) {
      this.#cleanUp();
      throw err;
    }
  }

  /** A new namespace `<tag>-<name>` with its loopback up; returns its full name. */
  host(name: string): string {
    const ns = `${this.tag}-${name}`;
    sh('ip', ['netns', 'add', ns]);
    this.#namespaces.push(ns);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** Puts `ns` on the public bridge as `dev` with `cidr` (e.g. 10.200.0.11/24). */
  public(ns: string, cidr: string, dev = 'eth0'): void {
    const port = `p${this.#ports++}`;
    sh('ip', ['-n', ns, 'link', 'add', dev, 'type', 'veth', 'peer', 'name', port, 'netns', this.inet]);
    sh('ip', ['-n', this.inet, 'link', 'set', port, 'master', 'br0', 'up']);
    sh('ip', ['-n', ns, 'addr', 'add', cidr, 'dev', dev]);
    sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  }

  /**
   * A host `inner` behind the router `router`: a veth `lan0` (router, `gw`/24) to `eth0` (inner,
   * `addr`/24), the inner host's default route through the router, and forwarding on the router.
   */
  behind(router: string, inner: string, gw: string, addr: string): void {
    sh('ip', ['-n', router, 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', inner]);
    sh('ip', ['-n', router, 'addr', 'add', `${gw}/24`, 'dev', 'lan0']);
    sh('ip', ['-n', router, 'link', 'set', 'lan0', 'up']);
    sh('ip', ['-n', inner, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
    sh('ip', ['-n', inner, 'link', 'set', 'eth0', 'up']);
    sh('ip', ['-n', inner, 'route', 'add', 'default', 'via', gw]);
    sh('ip', ['netns', 'exec', router, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  }

  /**
   * A home or mobile NAT on `router`: masquerade with a random source port per flow (mappings
   * depend on the destination, as in a symmetric NAT, so candidates learned through STUN do not
   * work towards a peer) and nothing forwarded inwards unless it answers a flow from inside.
   */
  masquerade(router: string): void {
    this.nft(
      router,
      `table ip lab {
  chain post { type nat hook postrouting priority srcnat; oifname "eth0" masquerade random; }
  chain lan_only {
    type filter hook forward priority filter; policy drop;
    iifname "lan0" oifname "eth0" accept
    ct state established,related accept
  }
}`,
    );
  }

  /** A cloud-style 1:1 NAT on `router`: `publicIp` (its eth0 address) maps to `privateIp` behind it. */
  oneToOne(router: string, publicIp: string, privateIp: string): void {
    this.nft(
      router,
      `table ip lab {
  chain pre { type nat hook prerouting priority dstnat; iifname "eth0" ip daddr ${publicIp} dnat to ${privateIp}; }
  chain post { type nat hook postrouting priority srcnat; oifname "eth0" ip saddr ${privateIp} snat to ${publicIp}; }
}`,
    );
  }

  nft(ns: string, ruleset: string): void {
    sh('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], ruleset);
  }

  /** /etc/hosts inside `ns` (ip netns exec bind-mounts /etc/netns/NS/hosts): names for public hosts. */
  hosts(ns: string, entries: Record<string, string>): void {
    mkdirSync(`/etc/netns/${ns}`, { recursive: true });
    const lines = Object.entries(entries).map(([name, ip]) => `${ip} ${name}`);
    writeFileSync(`/etc/netns/${ns}/hosts`, `127.0.0.1 localhost\n${lines.join('\n')}\n`);
  }

  /** Runs a command in `ns` to its end; returns stdout, or throws with stderr. */
  exec(ns: string, cmd: string, args: string[]): string {
    return sh('ip', ['netns', 'exec', ns, cmd, ...args]);
  }

  /**
   * True when a TCP SYN from `ns` to `ip` (port 9) gets an answer within 1.5 s: a connection or a
   * reset (the host is there, the port closed). Unreachable or silent counts as false.
   */
  reaches(ns: string, ip: string): boolean {
    const script =
      "const s=require('node:net').connect({host:process.argv[1],port:9});" +
      'const done=(r)=>{process.stdout.write(r);s.destroy();process.exit(0)};' +
      "s.on('connect',()=>done('yes'));s.on('error',(e)=>done(e.code==='ECONNREFUSED'?'yes':'no'));" +
      "setTimeout(()=>done('no'),1500)";
    return sh('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ip]) === 'yes';
  }

  /** GET `url` from inside `ns` (plain node, no loader): the body, or throws on a non-2xx. */
  fetchIn(ns: string, url: string): string {
    const script =
      'fetch(process.argv[1],{signal:AbortSignal.timeout(5000)}).then(async r=>{const t=await r.text();' +
      'if(!r.ok){console.error(r.status,t);process.exit(1)}process.stdout.write(t)})' +
      '.catch(e=>{console.error(String(e));process.exit(1)})';
    return sh('ip', ['netns', 'exec', ns, process.execPath, '-e', script, url]);
  }

  /**
   * One of this repository's programs in `ns` (the sources through tsx, or built JavaScript with
   * `o.built`), ready when it prints its ready line.
   */
  async start(
    ns: string,
    args: readonly string[],
    env: Record<string, string>,
    what: string,
    o: Omit<LaunchOptions, 'netns'> = {},
  ): Promise<Started> {
    const s = await startUntilReady(args, env, what, { readyMs: 60_000, ...o, netns: ns });
    this.#started.push(s);
    return s;
  }

  /** Another program (e.g. redis-server) in `ns`, in the foreground, its output discarded. */
  daemon(ns: string, cmd: string, args: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: 'ignore' });
    this.#daemons.push(child);
    return child;
  }

  /** Stops everything started here, then removes every namespace and file this lab made. */
  async destroy(): Promise<void> {
    await Promise.all(
      this.#started.map(async (s) => {
        if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
        await s.exited;
      }),
    );
    this.#cleanUp();
    process.off('exit', this.#cleanUp);
  }

  /** Synchronous, so that it also runs on process exit. */
  readonly #cleanUp = (): void => {
    for (const s of this.#started)
      if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
    for (const d of this.#daemons) if (d.exitCode === null && d.signalCode === null) d.kill('SIGKILL');
    for (const ns of this.#namespaces.reverse()) removeNamespace(ns);
    this.#namespaces.length = 0;
    if (!this.#etcNetns && existsSync('/etc/netns') && readdirSync('/etc/netns').length === 0)
      rmdirSync('/etc/netns');
  };
}

/** Kills what still runs inside `ns` (all of it started by a lab), deletes it and its /etc/netns files. */
function removeNamespace(ns: string): void {
  const pids = has('ip', ['netns', 'pids', ns]) ? sh('ip', ['netns', 'pids', ns]).split(/\s+/) : [];
  for (const pid of pids.filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  has('ip', ['netns', 'del', ns]); // false when it is already gone
  rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
}

/** Removes the namespaces of labs whose test process died without cleaning up (by their tag's pid). */
function sweepAbandonedLabs(): void {
  for (const line of sh('ip', ['netns', 'list']).split('\n')) {
    const m = /^(rbt-([0-9a-z]+)-[0-9a-f]{4}-\S+)/.exec(line);
    if (!m) continue;
    const pid = Number.parseInt(m[2]!, 36);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) removeNamespace(m[1]!);
  }
}
