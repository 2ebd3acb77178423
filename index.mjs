// The ES module entry of @x/wasi: the CommonJS module (index.js) re-exported,
// so `import` and `require` share one addon and the same classes
// (`instanceof` works across both).
import xwasi from './index.js'

export const { WASI, compile, CompiledModule } = xwasi
export default xwasi
