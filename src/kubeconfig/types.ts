// Typed shapes of a kubeconfig file as kubectl writes it (clientcmd v1).
// Field names keep the spelling of the YAML (kebab-case where kubectl uses it,
// camelCase inside `exec`), so a parsed file can be read without a mapping layer.

/** `extensions: [{name, extension}]` on clusters, users, contexts and the file. */
export interface NamedExtension {
  name: string;
  extension?: unknown;
}

export interface ClusterConfig {
  server?: string;
  'certificate-authority'?: string;
  'certificate-authority-data'?: string;
  'insecure-skip-tls-verify'?: boolean;
  'tls-server-name'?: string;
  'proxy-url'?: string;
  'disable-compression'?: boolean;
  extensions?: NamedExtension[];
}

export interface ExecEnvVar {
  name: string;
  value: string;
}

/** The ExecCredential versions kubetape speaks, both as a plugin (kubetape credential) and when it runs one. */
export const EXEC_API_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'] as const;
export type ExecApiVersion = (typeof EXEC_API_VERSIONS)[number];
export type ExecInteractiveMode = 'Never' | 'IfAvailable' | 'Always';

/** The `user.exec` stanza of a credential plugin. */
export interface ExecConfig {
  apiVersion: string;
  command: string;
  args?: string[];
  env?: ExecEnvVar[] | null;
  installHint?: string;
  provideClusterInfo?: boolean;
  interactiveMode?: ExecInteractiveMode;
}

export interface AuthProviderConfig {
  name: string;
  config?: Record<string, string>;
}

export interface UserConfig {
  'client-certificate'?: string;
  'client-certificate-data'?: string;
  'client-key'?: string;
  'client-key-data'?: string;
  token?: string;
  tokenFile?: string;
  as?: string;
  'as-uid'?: string;
  'as-groups'?: string[];
  'as-user-extra'?: Record<string, string[]>;
  username?: string;
  password?: string;
  'auth-provider'?: AuthProviderConfig;
  exec?: ExecConfig;
  extensions?: NamedExtension[];
}

export interface ContextConfig {
  cluster?: string;
  user?: string;
  namespace?: string;
  extensions?: NamedExtension[];
}

/** One kubeconfig file, as it is on disk. */
export interface KubeconfigFile {
  apiVersion?: string;
  kind?: string;
  'current-context'?: string;
  preferences?: Record<string, unknown>;
  clusters?: Array<{ name: string; cluster: ClusterConfig }> | null;
  users?: Array<{ name: string; user: UserConfig }> | null;
  contexts?: Array<{ name: string; context: ContextConfig }> | null;
  extensions?: NamedExtension[];
}

/** A named entry and the file it came from (relative paths in it are already resolved against that file). */
export interface Located<T> {
  name: string;
  value: T;
  file: string;
}

/**
 * One or more kubeconfig files merged the way kubectl merges $KUBECONFIG:
 * the first file that names an entry wins, and the first current-context wins.
 */
export interface Kubeconfig {
  currentContext?: string;
  clusters: Map<string, Located<ClusterConfig>>;
  users: Map<string, Located<UserConfig>>;
  contexts: Map<string, Located<ContextConfig>>;
  /** Files actually read, in precedence order. */
  files: string[];
}

/** The cluster extension name whose content client-go hands to exec plugins as `spec.cluster.config`. */
export const EXEC_CLUSTER_EXTENSION = 'client.authentication.k8s.io/exec';
