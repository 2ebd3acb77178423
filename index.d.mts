// Types of the ES module entry (index.mjs): the same as index.d.ts.
import * as xwasi from './index.js'

export * from './index.js'
export default xwasi
