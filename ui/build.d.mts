// Types for ui/build.mjs, imported by the browser tests.
export interface BuiltUi {
  outDir: string;
  script: string;
  style: string;
}
export function buildUi(o?: { outDir?: string }): Promise<BuiltUi>;
