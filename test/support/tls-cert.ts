/**
 * A throwaway self-signed certificate for 127.0.0.1 and ::1 (or the IPs given), made with the
 * openssl command (Debian package `openssl`), for TURN-over-TLS tests. EC P-256, valid two days,
 * written into `dir` as cert.pem and key.pem.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function makeSelfSignedCert(
  dir: string,
  ips: readonly string[] = ['127.0.0.1', '::1'],
): Promise<{ cert: string; key: string }> {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  try {
    await run(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '2',
        '-subj',
        `/CN=${ips[0]}`,
        '-addext',
        `subjectAltName=${ips.map((ip) => `IP:${ip}`).join(',')}`,
      ],
      { timeout: 15_000 },
    );
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error(
        'the openssl command is not installed (Debian package openssl); cannot make a TLS cert',
        {
          cause: err,
        },
      );
    }
    throw new Error(`openssl could not make a self-signed cert in ${dir}: ${e.stderr?.trim() || e.message}`, {
      cause: err,
    });
  }
  return { cert, key };
}
