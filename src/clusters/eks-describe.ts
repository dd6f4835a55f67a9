// An EKS cluster's endpoint and CA from DescribeCluster, with kubetape's own
// AWS credentials (the default provider chain: IRSA, instance role, env).
import { DescribeClusterCommand, EKSClient } from '@aws-sdk/client-eks';

export interface EksEndpoint {
  endpoint: string;
  /** PEM of the cluster's CA. */
  caPem?: string;
}

export class EksDescriber {
  private readonly clients = new Map<string, EKSClient>();

  constructor(private readonly o: { endpoint?: string; timeoutMs: number }) {}

  private client(region: string): EKSClient {
    let c = this.clients.get(region);
    if (!c) {
      c = new EKSClient({ region, maxAttempts: 2, ...(this.o.endpoint ? { endpoint: this.o.endpoint } : {}) });
      this.clients.set(region, c);
    }
    return c;
  }

  /** `withCa` false: the caller has its own CA, so EKS's is not read (or judged). */
  async describe(name: string, region: string, withCa = true): Promise<EksEndpoint> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.o.timeoutMs);
    let out;
    try {
      out = await this.client(region).send(new DescribeClusterCommand({ name }), { abortSignal: abort.signal });
    } catch (err) {
      if (abort.signal.aborted) throw new Error(`EKS DescribeCluster ${name} in ${region} did not answer within ${this.o.timeoutMs} ms`, { cause: err });
      throw new Error(`EKS DescribeCluster ${name} in ${region} failed: ${(err as Error).name}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    const endpoint = out.cluster?.endpoint;
    if (!endpoint) throw new Error(`EKS DescribeCluster ${name} in ${region} returned no endpoint (is the cluster ACTIVE?)`);
    const result: EksEndpoint = { endpoint };
    const data = out.cluster?.certificateAuthority?.data;
    if (data && withCa) {
      const pem = Buffer.from(data, 'base64').toString('utf8');
      if (!pem.includes('-----BEGIN CERTIFICATE-----'))
        throw new Error(`EKS DescribeCluster ${name} in ${region}: certificateAuthority.data is not a PEM certificate; set the cluster's ca`);
      result.caPem = pem;
    }
    return result;
  }

  close(): void {
    for (const c of this.clients.values()) c.destroy();
  }
}
