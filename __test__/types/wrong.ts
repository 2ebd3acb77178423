// Must NOT type-check (../types.test.js asserts the errors): proves that tsc
// reports both a wrong option and an unused `@ts-expect-error`, the
// mechanism usage.ts relies on.

import { WASI } from '@x/wasi'

new WASI({ engine: 'llvm' })
// @ts-expect-error: this line is fine, so the directive itself is an error
new WASI({ engine: 'cranelift' })
