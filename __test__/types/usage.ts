// Type test of @x/wasi's public API (index.d.ts), as a CommonJS TypeScript
// consumer sees it through the package's `exports` map. Never run: only
// type-checked by `tsc --noEmit` (see ../types.test.js). Every line that
// must be rejected carries `// @ts-expect-error`, which fails the check when
// the line type-checks after all.

import { readFileSync } from 'node:fs'
import {
  WASI,
  compile,
  CompiledModule,
  type CompileOptions,
  type WASIOptions,
  type WasiImportNamespace,
  type WasiImportObject,
  type WasiSyscall,
  type WasmSource,
} from '@x/wasi'

const buffer: Buffer = readFileSync('main.wasm')
// What WebAssembly.instantiate() takes (a Buffer's `buffer` may be shared).
const bytes: Uint8Array<ArrayBuffer> = new Uint8Array(buffer)

// Every option of `new WASI()`.
const options: WASIOptions = {
  args: ['prog', 'x'],
  env: { FOO: 'bar', UNSET: undefined },
  preopens: { '/sandbox': './data' },
  returnOnExit: false,
  stdin: 0,
  stdout: 1,
  stderr: 2,
  engine: 'singlepass',
  version: 'unstable',
  cache: false,
  cacheDir: '/tmp/x-wasi-cache',
}
const wasi = new WASI(options)
new WASI()
new WASI({})
new WASI({ env: process.env, args: process.argv.slice(1), version: 'preview1', engine: 'cranelift' })

// start(): bytes of every kind, a compiled module, an instance, a module.
const code1: number = wasi.start(buffer)
const code2: number = new WASI().start(new Uint8Array(bytes))
const code3: number = new WASI().start(bytes.buffer)
const code4: number = new WASI().start(new DataView(bytes.buffer))

// compile() and CompiledModule.
const compileOptions: CompileOptions = { engine: 'cranelift', cache: true, cacheDir: '.cache' }
const compiled: CompiledModule = compile(buffer, compileOptions)
compile(bytes.buffer)
compile(new Uint8Array(bytes), {})
const origin: 'memory' | 'disk' | 'compiled' = compiled.origin
const engine: 'cranelift' | 'singlepass' = compiled.engine
const code5: number = new WASI().start(compiled)
const isCompiled: boolean = (compiled as unknown) instanceof CompiledModule

// The node:wasi drop-in: V8 runs the module with our syscalls.
async function inV8(source: WasmSource): Promise<number> {
  const v8wasi = new WASI({ version: 'preview1' })
  const imports: WasiImportObject = v8wasi.getImportObject()
  const preview1: WasiImportNamespace | undefined = imports.wasi_snapshot_preview1
  const unstable: WasiImportNamespace | undefined = imports.wasi_unstable
  void preview1
  void unstable
  const { instance } = await WebAssembly.instantiate(bytes, v8wasi.getImportObject())
  const module = await WebAssembly.compile(source as BufferSource)
  new WASI().start(module)
  return v8wasi.start(instance)
}

// node:wasi's shape: `{ wasi_snapshot_preview1: wasi.wasiImport }`.
async function nodeWasiShape(): Promise<void> {
  const w = new WASI()
  const fdWrite: WasiSyscall | undefined = w.wasiImport.fd_write
  const errno: number | undefined = fdWrite?.(1, 0, 1, 8n)
  void errno
  const instance = await WebAssembly.instantiate(
    new WebAssembly.Module(bytes),
    { wasi_snapshot_preview1: w.wasiImport },
  )
  w.start(instance)
}

// A reactor with host functions of its own, initialized instead of started.
async function reactor(): Promise<number> {
  const w = new WASI()
  let memory: WebAssembly.Memory | undefined
  const hostLog = (ptr: number, len: number): void => {
    console.log(new TextDecoder().decode(new Uint8Array(memory!.buffer, ptr, len)))
  }
  const { instance } = await WebAssembly.instantiate(bytes, { ...w.getImportObject(), env: { hostLog } })
  memory = instance.exports.memory as WebAssembly.Memory
  const nothing: void = w.initialize(instance)
  void nothing
  return (instance.exports.add as (a: number, b: number) => number)(40, 2)
}

// Wrong uses are rejected.
// @ts-expect-error: not an engine
new WASI({ engine: 'llvm' })
// @ts-expect-error: args is an array of strings
new WASI({ args: 'prog x' })
// @ts-expect-error: no such option (a typo of `preopens`)
new WASI({ preopen: { '/': '.' } })
// @ts-expect-error: version is 'preview1' or 'unstable'
new WASI({ version: 'preview2' })
// @ts-expect-error: returnOnExit is a boolean
new WASI({ returnOnExit: 1 })
// @ts-expect-error: a path is not wasm bytes
compile('main.wasm')
// @ts-expect-error: compile() takes no WASI options
compile(bytes, { args: [] })
// @ts-expect-error: CompiledModule comes from compile(), not `new`
new CompiledModule()
// @ts-expect-error: origin is read-only
compiled.origin = 'disk'
// @ts-expect-error: a native initialize() returns the instance, not void
const noInstance: void = wasi.initialize(bytes)
// @ts-expect-error: run() takes no WebAssembly.Instance (it runs natively)
wasi.run({} as WebAssembly.Instance)
// @ts-expect-error: stdout takes 'inherit', 'pipe', a fd or a callback
wasi.run(bytes, { stdout: 'ignore' })
// @ts-expect-error: timeout is a number of milliseconds
wasi.run(bytes, { timeout: '5s' })
// @ts-expect-error: start() returns the exit code, a number
const wrong: string = wasi.start(bytes)

// Issue 5: run(), host functions, native reactors, preopen kinds.
const withHost = new WASI({
  imports: { env: { hostLogUint32(v: number) { void v }, hostAdd64: (a: bigint, b: bigint) => a + b } },
  maxMemory: 64 << 20,
  preopens: { '/ro': { path: './data', readonly: true }, '/mem': { 'a.txt': 'hello', 'dir/b.bin': new Uint8Array(4) } },
})
async function runs(): Promise<number> {
  const chunks: Buffer[] = []
  const { exitCode, stdout } = await withHost.run(bytes, {
    stdin: 'input',
    stdout: 'pipe',
    stderr: (chunk: Buffer) => void chunks.push(chunk),
    timeout: 1000,
    signal: new AbortController().signal,
  })
  const viewLength: number = withHost.memory.buffer.byteLength + withHost.memory.byteLength
  const tier: 'v8' | 'cranelift' | 'singlepass' | null = withHost.tier
  void tier
  return exitCode + (stdout?.length ?? 0) + viewLength
}
const native = new WASI().initialize(bytes, { env: { f: () => 1 } })
const added = (native.exports.add as (a: number, b: number) => number)(40, 2)

export { code1, code2, code3, code4, code5, origin, engine, isCompiled, inV8, nodeWasiShape, reactor, wrong, noInstance, runs, added }
