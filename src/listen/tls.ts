// Certificates kubetape makes for itself: a private CA and serving certificates
// signed by it. ECDSA P-256 keeps generation to milliseconds (RSA in pure JS
// would dominate test start-up) and every kubectl since 1.0 accepts it.
import { webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import { isIP } from 'node:net';
// @peculiar/x509 2.x resolves its ASN.1 serialisers through tsyringe, which needs this polyfill loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 24 * 60 * 60 * 1000;

/** PEM-encoded key pair with its certificate. */
export interface PemKeyPair {
  cert: string;
  key: string;
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
}

/** A self-signed CA valid for ten years. */
export async function createCertificateAuthority(commonName: string): Promise<PemKeyPair> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${commonName}`,
    keys,
    signingAlgorithm: ALG,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 3650 * DAY),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem') + '\n', key: await exportKeyPem(keys.privateKey) };
}

/**
 * A serving certificate for `hosts` (DNS names or IP addresses) signed by `ca`,
 * valid for one year. `clientAuth` is included so the same helper can mint
 * client certificates for tests of upstream mTLS.
 */
export async function issueCertificate(
  ca: PemKeyPair,
  commonName: string,
  hosts: string[],
  opts: { client?: boolean; organizations?: string[] } = {},
): Promise<PemKeyPair> {
  const caCert = new x509.X509Certificate(ca.cert);
  const caKey = await importKeyPem(ca.key);
  const keys = await generateKeys();
  const names = hosts.map((h) => (isIP(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h }));
  const subject = [`CN=${commonName}`, ...(opts.organizations ?? []).map((o) => `O=${o}`)].join(', ');
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension(opts.client ? ['1.3.6.1.5.5.7.3.2'] : ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']),
    await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const cert = await x509.X509CertificateGenerator.create({
    subject,
    issuer: caCert.subject,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: ALG,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 365 * DAY),
    extensions,
  });
  return { cert: cert.toString('pem') + '\n', key: await exportKeyPem(keys.privateKey) };
}

async function importKeyPem(pem: string): Promise<CryptoKey> {
  const b64 = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  return await webcrypto.subtle.importKey('pkcs8', Buffer.from(b64, 'base64'), ALG, false, ['sign']);
}

/** A CA plus a serving certificate for loopback, in one call: what tests want. */
export async function createLoopbackTls(commonName = 'kubetape-test'): Promise<{ ca: PemKeyPair; server: PemKeyPair }> {
  const ca = await createCertificateAuthority(`${commonName}-ca`);
  const server = await issueCertificate(ca, commonName, ['127.0.0.1', 'localhost', '::1']);
  return { ca, server };
}
