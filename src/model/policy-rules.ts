// The pieces of a policy rule that the data path applies itself, below
// authorize/: how an exec/attach command or a typed shell line is matched
// (forward/streams/typed-line.ts checks lines as they are typed). The policy
// (authorize/policy/types.ts) is built from them.

/** How an exec/attach command is matched: the whole argv joined by spaces. */
export type CommandMatch = { exact: string } | { prefix: string } | { regex: RegExp };

/** A line typed into an interactive shell (exec/attach with tty) that the rule refuses. */
export interface TypedLineRule {
  match: CommandMatch;
  action: 'deny';
  message: string;
}
