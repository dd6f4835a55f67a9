// A response kubetape must mask has to come back as JSON: protobuf and YAML
// bodies cannot be rewritten. client-go asks for
// "application/vnd.kubernetes.protobuf,application/json" and is as happy with
// either, so rather than refusing such a client (or passing it a Secret in
// clear), kubetape asks the cluster for only the JSON forms the client listed.

/**
 * The client's Accept with every non-JSON media range dropped, or undefined
 * when it names no JSON form (then nothing is changed and the policy's
 * `onUnmaskable` choice applies to whatever comes back). No Accept, or a
 * wildcard, already gets JSON from the API server and is left alone.
 */
export function maskableAccept(accept: string | undefined): string | undefined {
  if (!accept) return undefined;
  const ranges = accept
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  const json = ranges.filter((r) => {
    const type = r.split(';')[0].trim().toLowerCase();
    return type === 'application/json' || type === 'application/*' || type === '*/*';
  });
  if (json.length === 0 || json.length === ranges.length) return undefined;
  return json.join(',');
}
