// Which IAM role a caller gets on a cluster: the mapping entries whose group
// the caller is in, highest priority first, file order among equals.
export interface RoleMapping {
  /** A group as kubetape's authentication names it (with any groupsPrefix). */
  group: string;
  roleArn: string;
  /** Higher wins; default 0. */
  priority: number;
}

export function selectRole(mappings: readonly RoleMapping[], groups: readonly string[]): RoleMapping | undefined {
  let best: RoleMapping | undefined;
  for (const m of mappings) {
    if (!groups.includes(m.group)) continue;
    if (!best || m.priority > best.priority) best = m;
  }
  return best;
}
