// What a session's client is called, from its User-Agent: shown by `sessions
// list|show` and filtered on by the sessions API (`client=`), so it lives
// below both.

/**
 * What a session without kubectl's Kubectl-Command is shown as: the client
 * its User-Agent names (the first product token: kubectl before 1.22,
 * k9s and other client-go tools, python-requests, node-fetch for
 * @kubernetes/client-node, Go-http-client, curl), "-" when it sent none.
 * The Python client's User-Agent names its generator
 * ("OpenAPI-Generator/29.0.0/python"): it is shown as kubernetes-python.
 */
export function clientName(ua: string | undefined): string {
  const u = ua?.trim();
  if (!u) return '-';
  const generated = /^OpenAPI-Generator\/[^/\s]+\/(\w+)/i.exec(u);
  if (generated) return `kubernetes-${generated[1].toLowerCase()}`;
  return u.split(/[\s/]/)[0];
}
