// Type test of @x/wasi as an ES module consumer sees it: `import` resolves
// to index.mjs and its types to index.d.mts through the `exports` map.

import xwasi, { WASI, compile, CompiledModule, type WASIOptions } from '@x/wasi'

const options: WASIOptions = { args: ['prog'], preopens: { '/': '.' } }
const wasi: WASI = new xwasi.WASI(options)
const module: CompiledModule = compile(new Uint8Array(8), { engine: 'singlepass' })
const code: number = wasi.start(module)
const same: boolean = xwasi.compile === compile && xwasi.CompiledModule === CompiledModule

// @ts-expect-error: not an engine
new WASI({ engine: 'llvm' })

export { code, same }
