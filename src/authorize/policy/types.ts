// The guardrail policy as kubetape holds it once loaded and validated.
// Rules are written against the parsed request (the API server's own
// attributes), not against raw HTTP text.

import type { LabelSelector, Labels } from './label-selector.js';
import type { CommandMatch, TypedLineRule } from '../../model/policy-rules.js';
import type { MaskPattern } from '../../mask/patterns.js';

// Defined below authorize/ (the data path applies them without the policy); part of the policy's shape.
export type { CommandMatch, MaskPattern, TypedLineRule };

export type PolicyAction = 'deny' | 'allow' | 'mask' | 'require-approval';

/** Every field is optional; a rule matches when every field it names matches. Lists mean "any of". */
export interface RuleMatch {
  cluster?: string[];
  user?: string[];
  /** The caller is in at least one of these groups. */
  group?: string[];
  verb?: string[];
  apiGroup?: string[];
  resource?: string[];
  subresource?: string[];
  namespace?: string[];
  name?: string[];
  command?: CommandMatch[];
  container?: string[];
  tty?: boolean;
  stdin?: boolean;
  /** Labels of the target object (see LabelFacts for what is known when). */
  labels?: LabelSelector;
  /** true: only agents (machine callers); false: only people; names: only these agents ("*": any agent). */
  agent?: boolean | string[];
  /** Only agents acting for one of these users ("*": acting for anyone); a caller acting for nobody never matches. */
  actingFor?: string[];
}

export interface PolicyRule {
  /** The rule's name, or "rule N" (1-based position in the file). */
  name: string;
  /** 1-based position in the file. */
  index: number;
  /** Line in the policy file where the rule starts (0 when inline). */
  line: number;
  priority: number;
  match: RuleMatch;
  action: PolicyAction;
  message?: string;
  /** require-approval: groups whose members may approve (never the requester). */
  approvers?: string[];
  /** require-approval: the longest grant an approver may give (default 1h). */
  maxGrantMs?: number;
  /** require-approval on REST requests: hold the request open this long waiting for a decision. */
  holdMs?: number;
  /** exec/attach with tty: true: lines typed into the shell that close the session. */
  typed?: TypedLineRule[];
}

export interface Policy {
  /** Sorted: higher priority first, file order within a priority. */
  rules: PolicyRule[];
  /** Applied to everything stored: response bodies, log streams, exec output. */
  patterns: MaskPattern[];
  /** When a Secret response cannot be masked (protobuf): refuse it, or pass it and store only a marker. */
  onUnmaskable: 'refuse' | 'marker';
  /**
   * `masking.inline`: the patterns are also applied to exec/attach stdout and
   * stderr on their way to the client (absent: only the recording is masked).
   * Members of `exceptGroups` see the output as the cluster sent it.
   */
  inline?: { exceptGroups: string[]; maxHoldMs: number };
  /** Where it came from, for log lines. */
  source: string;
  /** Approvers are notified here (Slack-compatible JSON) when a request is opened or given a reason. */
  approvals?: {
    webhook?: string;
    /** Set when the URL was read from this environment variable (`approvals.webhookFromEnv`); logs name it, never the URL. */
    webhookFromEnv?: string;
  };
}

/** What the policy says about one request. */
export interface PolicyDecision {
  action: PolicyAction;
  /** The rule that decided; undefined when no rule matched (allowed by default). */
  rule?: PolicyRule;
  /** What was known of the target's labels, when a rule with `labels` was reached. */
  labels?: LabelFacts;
}

/**
 * What is known of the target object's labels. A side is absent when it does
 * not apply (a create has no current labels; a get leaves them unchanged),
 * 'unknown' when it applies but could not be known (a JSON patch touching
 * metadata, a body that is not JSON).
 */
export interface LabelFacts {
  /** The object's labels as they are in the cluster; {} when it does not exist. */
  current?: Labels | 'unknown';
  /** The labels the request would leave it with (create, update, patch). */
  next?: Labels | 'unknown';
  /** list, watch, deletecollection: the request's own ?labelSelector (an empty selector when none). */
  collection?: LabelSelector;
}

/** A request as the policy sees it. */
export interface PolicyRequest {
  cluster: string;
  user: string;
  groups: string[];
  /** The agent's name when the caller is a machine; absent for a person. */
  agent?: string;
  /** Whom the agent acts for, when its token said. */
  actingFor?: string;
  verb: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  exec?: { command: string[]; container?: string; tty: boolean; stdin: boolean };
  /** The request's ?labelSelector as sent (collections). */
  labelSelector?: string;
  /** The target's labels when already known (evaluatePolicyWithLabels fills them in when a rule needs them). */
  labels?: LabelFacts;
}
