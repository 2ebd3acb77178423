// Type test of @x/wasi in a Node-only TypeScript project: no DOM lib, so no
// WebAssembly declarations but the package's own; no skipLibCheck. Only
// type-checked (tsconfig.node.json), never run.

import { readFileSync } from 'node:fs'
import { WASI, compile, type WasiImportObject } from '@x/wasi'

const wasi = new WASI({ args: ['prog'], env: process.env, preopens: { '/': '.' } })
const code: number = wasi.start(compile(readFileSync('main.wasm'), { engine: 'singlepass' }))
const imports: WasiImportObject = new WASI().getImportObject()
const fdWrite = new WASI().wasiImport.fd_write

// @ts-expect-error: not an engine
new WASI({ engine: 'llvm' })

export { code, imports, fdWrite }
