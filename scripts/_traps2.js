const { WASI } = require('/work/wt-tiering')
const bodies = {
  rem: '(drop (i32.rem_s (i32.const 1) (i32.const 0)))',
  ovf: '(drop (i32.div_s (i32.const 0x80000000) (i32.const -1)))',
  trunc: '(drop (i32.trunc_f64_s (f64.const 1e100)))',
  copy: '(memory.copy (i32.const 65530) (i32.const 0) (i32.const 100))',
  fill: '(memory.fill (i32.const 65530) (i32.const 0) (i32.const 100))',
  init: '(memory.init 0 (i32.const 0) (i32.const 0) (i32.const 100))',
  icall_oob: '(call_indirect (type $t) (i32.const 10))',
  icall_null: '(call_indirect (type $t) (i32.const 1))',
  tget: '(drop (table.get 0 (i32.const 10)))',
  atomic: '(drop (i32.atomic.load (i32.const 1)))',
}
require('/work/wt-tiering/node_modules/wabt')().then((wabt) => {
  for (const [k, body] of Object.entries(bodies)) {
    const src = `(module (type $t (func)) (memory (export "memory") 1 1 ${k==='atomic'?'shared':''}) (data "abc") (table 2 funcref) (elem (i32.const 0) $f) (func $f) (func (export "_start") ${body}))`
    const buffer = wabt.parseWat('x.wat', src, { threads: true, bulk_memory: true, reference_types: true }).toBinary({}).buffer
    let n = '-', v = '-'
    try { new WASI({returnOnExit:true, engine: 'cranelift'}).start(buffer) } catch (e) { n = e.message.split('\n')[0] }
    try { new WebAssembly.Instance(new WebAssembly.Module(buffer), {}).exports._start() } catch (e) { v = e.message }
    console.log(k.padEnd(11), JSON.stringify(n).padEnd(50), JSON.stringify(v))
  }
})
