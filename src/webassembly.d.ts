// The WebAssembly JS API subset kaio uses. TypeScript ships these types only in
// lib.dom, and @types/node has none; this file keeps DOM globals out of the build.
declare namespace WebAssembly {
  class Module {
    constructor(bytes: BufferSource);
    static imports(m: Module): { module: string; name: string; kind: string }[];
    static exports(m: Module): { name: string; kind: string }[];
  }
  interface MemoryDescriptor { initial: number; maximum?: number; shared?: boolean }
  class Memory {
    constructor(d: MemoryDescriptor);
    readonly buffer: ArrayBuffer | SharedArrayBuffer;
    grow(delta: number): number;
  }
  class Instance {
    constructor(m: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
  function compile(bytes: BufferSource): Promise<Module>;
  type BufferSource = ArrayBufferView | ArrayBuffer;
}
