// What kubetape keeps in its data directory, and making it on first start:
//   ca.crt, ca.key          the private CA kubectl trusts for kubetape
//   server.crt, server.key  the serving certificate, signed by that CA
//   tokens.csv              local-mode bearer tokens (kube-apiserver format)
//   kubeconfig              points kubectl at kubetape
//   recordings/             the local store
//   approvals.ndjson        just-in-time approval requests, decisions and grant uses (append-only)
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createCertificateAuthority, issueCertificate, type PemKeyPair } from './tls.js';

export interface DataDirPaths {
  root: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  tokens: string;
  kubeconfig: string;
  approvals: string;
  /** The console's browser logins (local store). */
  consoleLogins: string;
}

export function dataDirPaths(root: string): DataDirPaths {
  return {
    root,
    caCert: join(root, 'ca.crt'),
    caKey: join(root, 'ca.key'),
    serverCert: join(root, 'server.crt'),
    serverKey: join(root, 'server.key'),
    tokens: join(root, 'tokens.csv'),
    kubeconfig: join(root, 'kubeconfig'),
    approvals: join(root, 'approvals.ndjson'),
    consoleLogins: join(root, 'console-logins.json'),
  };
}

export function ensureDataDir(root: string): DataDirPaths {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  try {
    chmodSync(root, 0o700);
  } catch {
    // not ours to change (a shared mount): carry on, files are still 0600
  }
  return dataDirPaths(root);
}

const MONTH = 30 * 24 * 3600 * 1000;

/**
 * The CA and a serving certificate that covers `listenHost`, made on first
 * start and renewed when it would expire within a month or no longer covers
 * the host kubetape listens on. The CA is kept, so kubeconfigs stay valid.
 */
export async function ensureServingCertificate(p: DataDirPaths, listenHost: string): Promise<{ ca: string; cert: string; key: string }> {
  let ca: PemKeyPair;
  if (existsSync(p.caCert) && existsSync(p.caKey)) {
    ca = { cert: readFileSync(p.caCert, 'utf8'), key: readFileSync(p.caKey, 'utf8') };
  } else {
    ca = await createCertificateAuthority(`kubetape-ca@${hostname()}`);
    writeFileSync(p.caKey, ca.key, { mode: 0o600 });
    writeFileSync(p.caCert, ca.cert, { mode: 0o644 });
  }
  const hosts = servingHosts(listenHost);
  if (existsSync(p.serverCert) && existsSync(p.serverKey)) {
    const pem = readFileSync(p.serverCert, 'utf8');
    if (covers(pem, hosts)) return { ca: ca.cert, cert: pem, key: readFileSync(p.serverKey, 'utf8') };
  }
  const server = await issueCertificate(ca, 'kubetape', hosts);
  writeFileSync(p.serverKey, server.key, { mode: 0o600 });
  writeFileSync(p.serverCert, server.cert, { mode: 0o644 });
  return { ca: ca.cert, cert: server.cert, key: server.key };
}

function servingHosts(listenHost: string): string[] {
  const hosts = new Set(['127.0.0.1', '::1', 'localhost', hostname()]);
  if (listenHost && listenHost !== '0.0.0.0' && listenHost !== '::') hosts.add(listenHost);
  return [...hosts];
}

function covers(pem: string, hosts: string[]): boolean {
  try {
    const c = new X509Certificate(pem);
    if (Date.parse(c.validTo) - Date.now() < MONTH) return false;
    return hosts.every((h) => (isIP(h) ? c.checkIP(h) !== undefined : c.checkHost(h) !== undefined));
  } catch {
    return false;
  }
}
