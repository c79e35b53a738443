/**
 * The relay's TLS certificate and key: read and checked at start, and reloaded on SIGHUP and
 * when either file changes, into every TLS listener at once (tls.Server.setSecureContext). Live
 * TLS connections keep the context they were opened with, so a reload drops none of them; new
 * connections get the new pair. A new pair that does not parse, or whose key does not match its
 * certificate, is refused with one log line and the pair in use stays. This module owns the
 * files and the watching; relay/stream-listeners.ts owns the TURN TLS listeners and what they serve.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import { basename, dirname } from 'node:path';
import tls from 'node:tls';
import type { Logger } from './logger.ts';

export interface CertificateFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/** A checked pair, as read from the files. */
export interface CertificatePair {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** SHA-256 fingerprint of the leaf certificate, as openssl prints it. */
  readonly fingerprint: string;
  readonly validTo: string;
}

export type ReloadResult =
  | { readonly ok: true; readonly changed: boolean; readonly fingerprint: string }
  | { readonly ok: false; readonly error: string };

/** Waits this long after the last file event before reading, so a cert and key written one after the other load as one pair. */
const DEBOUNCE_MS = 300;

/** Reads both files and checks that they form a usable pair; throws an Error with the reason. */
export function readCertificatePair(files: CertificateFiles): CertificatePair {
  return checkCertificatePair(
    files,
    readOrSay('--tls-cert', files.certFile),
    readOrSay('--tls-key', files.keyFile),
  );
}

/** Checks that the bytes read from `files` form a usable pair; throws an Error with the reason. */
function checkCertificatePair(files: CertificateFiles, cert: Buffer, key: Buffer): CertificatePair {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new Error(`--tls-cert: ${files.certFile} is not a PEM certificate (${(err as Error).message})`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new Error(`--tls-key: ${files.keyFile} is not a PEM private key (${(err as Error).message})`);
  }
  if (!x509.checkPrivateKey(privateKey))
    throw new Error(`--tls-key: ${files.keyFile} is not the key of the certificate in ${files.certFile}`);
  // What the listeners will be given must also build a context (chain order, key type).
  tls.createSecureContext({ cert, key });
  return { cert, key, fingerprint: x509.fingerprint256, validTo: x509.validTo };
}

function readOrSay(option: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${option}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

export class TlsCertificates {
  readonly #log: Logger;
  readonly #servers = new Set<tls.Server>();
  readonly #watchers: FSWatcher[] = [];
  #pair: CertificatePair;
  #debounce: NodeJS.Timeout | undefined;
  /** The bytes of the last pair refused, so that a bad pair is reported once, not per file event. */
  #refused: Buffer | undefined;
  /** Told of every reload that read changed files (metrics); a bad pair counts once per change. */
  onReload: ((result: 'reloaded' | 'refused') => void) | undefined;

  /** Reads the pair now; throws when it is unusable (the relay cannot start). */
  constructor(
    readonly files: CertificateFiles,
    logger: Logger,
  ) {
    this.#log = logger.child({ part: 'tls' });
    this.#pair = readCertificatePair(files);
    this.#log.info(
      { fingerprint: this.#pair.fingerprint, validTo: this.#pair.validTo },
      'TLS certificate loaded',
    );
  }

  get fingerprint(): string {
    return this.#pair.fingerprint;
  }

  /** The certificate in use expires then (notAfter), UNIX seconds. */
  get notAfter(): number {
    return Date.parse(this.#pair.validTo) / 1000;
  }

  /** A TLS server serving the current pair, and every later one. */
  createServer(onConnection: (socket: tls.TLSSocket) => void, options: tls.TlsOptions = {}): tls.Server {
    const server = tls.createServer({ ...options, cert: this.#pair.cert, key: this.#pair.key }, onConnection);
    return this.#track(server);
  }

  /** An HTTPS server (the public /ping) serving the current pair, and every later one. */
  createHttpsServer(handler: http.RequestListener, options: https.ServerOptions = {}): https.Server {
    const server = https.createServer({ ...options, cert: this.#pair.cert, key: this.#pair.key }, handler);
    return this.#track(server);
  }

  #track<S extends tls.Server>(server: S): S {
    this.#servers.add(server);
    server.once('close', () => this.#servers.delete(server));
    return server;
  }

  /**
   * Reads the files again; when they changed and form a good pair, every listener serves them to
   * new connections from now on. Never throws.
   */
  reload(trigger: 'SIGHUP' | 'file change'): ReloadResult {
    let next: CertificatePair;
    let bytes: Buffer | undefined;
    try {
      const cert = readOrSay('--tls-cert', this.files.certFile);
      const key = readOrSay('--tls-key', this.files.keyFile);
      if (cert.equals(this.#pair.cert) && key.equals(this.#pair.key)) {
        this.#refused = undefined;
        return { ok: true, changed: false, fingerprint: this.#pair.fingerprint };
      }
      bytes = Buffer.concat([cert, Buffer.from([0]), key]);
      next = checkCertificatePair(this.files, cert, key);
    } catch (err) {
      const error = (err as Error).message;
      // One line per bad pair: more file events on the same bad bytes say nothing new (SIGHUP always answers).
      const seen = bytes !== undefined && this.#refused?.equals(bytes) === true;
      this.#refused = bytes;
      if (seen && trigger === 'file change') return { ok: false, error };
      this.#log.error(
        { trigger, error, fingerprint: this.#pair.fingerprint },
        'TLS certificate reload refused; the certificate in use stays',
      );
      this.onReload?.('refused');
      return { ok: false, error };
    }
    for (const server of this.#servers) server.setSecureContext({ cert: next.cert, key: next.key });
    this.#log.info(
      { trigger, fingerprint: next.fingerprint, previous: this.#pair.fingerprint, validTo: next.validTo },
      'TLS certificate reloaded',
    );
    this.#pair = next;
    this.#refused = undefined;
    this.onReload?.('reloaded');
    return { ok: true, changed: true, fingerprint: next.fingerprint };
  }

  /**
   * Reloads when either file changes. The directories are watched, not the files, so that a file
   * replaced by a rename (certbot, a Kubernetes secret's symlink swap) is still seen; any event
   * there leads to a debounced re-read, and reload() ignores contents that did not change.
   */
  watch(): void {
    const names = new Set([this.files.certFile, this.files.keyFile].map((f) => basename(f)));
    for (const dir of new Set([dirname(this.files.certFile), dirname(this.files.keyFile)])) {
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => {
          if (name !== null && !names.has(name) && !name.startsWith('..')) return;
          clearTimeout(this.#debounce);
          this.#debounce = setTimeout(() => this.reload('file change'), DEBOUNCE_MS);
          this.#debounce.unref();
        });
        w.on('error', (err) => this.#log.warn({ err, dir }, 'cannot watch TLS files; SIGHUP still reloads'));
        this.#watchers.push(w);
      } catch (err) {
        this.#log.warn({ err, dir }, 'cannot watch TLS files; SIGHUP still reloads');
      }
    }
  }

  close(): void {
    clearTimeout(this.#debounce);
    for (const w of this.#watchers) w.close();
    this.#watchers.length = 0;
  }
}
