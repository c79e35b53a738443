/**
 * A throwaway self-signed certificate for 127.0.0.1 and ::1, made with the openssl command, for
 * TURN-over-TLS tests.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export async function makeSelfSignedCert(dir: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
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
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,IP:::1',
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}
