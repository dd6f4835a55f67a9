// Text of a value read from untyped JSON or YAML (a request body, a
// DynamoDB item, a kubeconfig). Scalars read as String() reads them; an
// object or array reads as its JSON, so a value of the wrong shape shows as
// itself in an error or a comparison instead of "[object Object]".
export function textOf(v: unknown): string {
  if (v !== null && (typeof v === 'object' || typeof v === 'function')) return JSON.stringify(v) ?? '';
  return String(v);
}
