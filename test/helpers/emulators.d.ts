// Types for the two in-process AWS emulators the AWS store tests use (neither ships its own).
declare module 'dynalite' {
  import type { Server } from 'node:http';
  export default function dynalite(opts?: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number; path?: string }): Server;
}

declare module 's3rver' {
  export interface S3rverOptions {
    port?: number;
    address?: string;
    silent?: boolean;
    directory: string;
    resetOnClose?: boolean;
    allowMismatchedSignatures?: boolean;
  }
  export default class S3rver {
    constructor(opts: S3rverOptions);
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
  }
}
