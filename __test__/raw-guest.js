'use strict'

// Builds small WAT guests that make a fixed list of raw WASI preview1 calls,
// exactly as written (no libc or Go runtime cleaning paths on the way), and
// report each call's errno. Used by the sandbox and fault tests, where the
// point is the precise errno of one syscall.
//
//   const guest = await buildGuest(steps, options)   // { bytes, wat }
//   const results = decodeResults(buffer, steps)      // [{ step, errno, count }]
//
// A step: { name, call, args, expect?, kind?, then?, repeat? }
//   call    a wasi_snapshot_preview1 function name (see SIGNATURES)
//   args    one entry per wasm parameter, except that a string argument
//           { str } and an iovec argument { iov } / { iovZeros } / READ_IOV
//           stand for two parameters (pointer, length):
//             number or bigint   a constant (i64 parameters take either)
//             str(text|Buffer)   a string in guest memory: pointer, length
//             fdOf(name)         the descriptor that step `name` wrote to its slot
//             SLOT               this step's descriptor slot (opened_fd, ...)
//             BUF, BUF_LEN       a scratch buffer of BUF_SIZE bytes
//             OUT                a scratch u32/u64 result (nread, filestat, ...)
//             iov(text)          one iovec over `text`: pointer, 1
//             iovZeros(n)        one iovec over n zero bytes: pointer, 1
//             READ_IOV           one iovec over the scratch buffer: pointer, 1
//   then    when the call returns 0 with a descriptor in SLOT:
//             'leak'  read up to BUF_SIZE bytes from it and write them to the
//                     leak fd (stderr unless told), so a test can see what
//                     a guest could have read
//             'pwn'   write "PWNED\n" to it
//           'leakBuf': write BUF[0..u32 at OUT] to the leak fd (path_readlink)
//           'showBuf': write BUF[0..u32 at OUT] to the results fd, before the
//                     report (fd_readdir entries for the host to check)
//   repeat  repeat the call while it returns 0, at most `repeat` times
//           (a write loop until the disk is full); the count is reported
//   pause   before the call, read one byte from fd 0 (the host's cue that
//           it has done its part, e.g. deleted a file), after writing
//           "ready <name>\n" to the report fd
//
// At the end, the guest writes its report — 8 bytes per step: errno (u32),
// repeat count (u32) — to `resultsFd` (1 unless told) and returns from _start.

const { WASI } = require('..')

const ERRNO = {
  SUCCESS: 0,
  ACCES: 2,
  BADF: 8,
  BUSY: 10,
  EXIST: 20,
  FAULT: 21,
  FBIG: 22,
  ILSEQ: 25,
  INVAL: 28,
  IO: 29,
  ISDIR: 31,
  LOOP: 32,
  NAMETOOLONG: 37,
  NOENT: 44,
  NOSPC: 51,
  NOSYS: 52,
  NOTDIR: 54,
  NOTEMPTY: 55,
  NOTSUP: 58,
  PERM: 63,
  PIPE: 64,
  ROFS: 69,
  SPIPE: 70,
  XDEV: 75,
  NOTCAPABLE: 76,
}
const ERRNO_NAME = Object.fromEntries(Object.entries(ERRNO).map(([name, value]) => [value, name]))
const errnoName = (errno) => (ERRNO_NAME[errno] ?? `errno ${errno}`)

// WASI flag values used by the tests.
const LOOKUP_SYMLINK_FOLLOW = 1
const O = { CREAT: 1, DIRECTORY: 2, EXCL: 4, TRUNC: 8 }
const FDFLAGS = { APPEND: 1 }
const FST = { ATIM: 1, ATIM_NOW: 2, MTIM: 4, MTIM_NOW: 8 }
const RIGHTS_ALL = 0x1fffffffn

// Parameters of each wasi_snapshot_preview1 function (all return an errno).
const SIGNATURES = {
  args_get: ['i32', 'i32'],
  args_sizes_get: ['i32', 'i32'],
  environ_get: ['i32', 'i32'],
  environ_sizes_get: ['i32', 'i32'],
  clock_res_get: ['i32', 'i32'],
  clock_time_get: ['i32', 'i64', 'i32'],
  fd_advise: ['i32', 'i64', 'i64', 'i32'],
  fd_allocate: ['i32', 'i64', 'i64'],
  fd_close: ['i32'],
  fd_datasync: ['i32'],
  fd_fdstat_get: ['i32', 'i32'],
  fd_fdstat_set_flags: ['i32', 'i32'],
  fd_fdstat_set_rights: ['i32', 'i64', 'i64'],
  fd_filestat_get: ['i32', 'i32'],
  fd_filestat_set_size: ['i32', 'i64'],
  fd_filestat_set_times: ['i32', 'i64', 'i64', 'i32'],
  fd_pread: ['i32', 'i32', 'i32', 'i64', 'i32'],
  fd_prestat_get: ['i32', 'i32'],
  fd_prestat_dir_name: ['i32', 'i32', 'i32'],
  fd_pwrite: ['i32', 'i32', 'i32', 'i64', 'i32'],
  fd_read: ['i32', 'i32', 'i32', 'i32'],
  fd_readdir: ['i32', 'i32', 'i32', 'i64', 'i32'],
  fd_renumber: ['i32', 'i32'],
  fd_seek: ['i32', 'i64', 'i32', 'i32'],
  fd_sync: ['i32'],
  fd_tell: ['i32', 'i32'],
  fd_write: ['i32', 'i32', 'i32', 'i32'],
  path_create_directory: ['i32', 'i32', 'i32'],
  path_filestat_get: ['i32', 'i32', 'i32', 'i32', 'i32'],
  path_filestat_set_times: ['i32', 'i32', 'i32', 'i32', 'i64', 'i64', 'i32'],
  path_link: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'],
  path_open: ['i32', 'i32', 'i32', 'i32', 'i32', 'i64', 'i64', 'i32', 'i32'],
  path_readlink: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'],
  path_remove_directory: ['i32', 'i32', 'i32'],
  path_rename: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'],
  path_symlink: ['i32', 'i32', 'i32', 'i32', 'i32'],
  path_unlink_file: ['i32', 'i32', 'i32'],
  poll_oneoff: ['i32', 'i32', 'i32', 'i32'],
  random_get: ['i32', 'i32'],
  sched_yield: [],
}

// Memory layout (bytes).
const IOV_SCRATCH = 0 // iovec for the guest's own writes
const NWRITTEN = 16
const OUT_ADDR = 64 // 64 bytes of scratch results
const SLOTS = 1024 // one u32 descriptor slot per step
const BUF_SIZE = 4096
const MAX_STEPS = 1024
const REPORT = SLOTS + 4 * MAX_STEPS // 8 bytes per step
const BUF_ADDR = REPORT + 8 * MAX_STEPS
const DATA = BUF_ADDR + BUF_SIZE // strings and iovecs from here on
const PAGE = 65536

const SLOT = Symbol('SLOT')
const BUF = Symbol('BUF')
const BUF_LEN = Symbol('BUF_LEN')
const OUT = Symbol('OUT')
const READ_IOV = Symbol('READ_IOV')
const str = (text) => ({ str: Buffer.from(text) })
const fdOf = (name) => ({ fdOf: name })
const iov = (text) => ({ iov: Buffer.from(text) })
const iovZeros = (length) => ({ iovZeros: length })

const hexString = (bytes) => '"' + Array.from(bytes, (b) => '\\' + b.toString(16).padStart(2, '0')).join('') + '"'
const u32le = (n) => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n >>> 0)
  return b
}

/** The WAT text of a guest making `steps`; see the top of this file. */
function guestWat(steps, { resultsFd = 1, leakFd = 2, pages } = {}) {
  if (steps.length > MAX_STEPS) throw new Error(`at most ${MAX_STEPS} steps`)
  const names = new Map(steps.map((step, i) => [step.name, i]))
  if (names.size !== steps.length) throw new Error('step names must be unique')
  const data = [] // [address, bytes]
  let next = DATA
  const place = (bytes, align = 8) => {
    next = Math.ceil(next / align) * align
    const at = next
    data.push([at, bytes])
    next += bytes.length
    return at
  }
  const zeroRegions = [] // [address, length], left as memory's zeros
  const placeZeros = (length) => {
    next = Math.ceil(next / 8) * 8
    const at = next
    zeroRegions.push([at, length])
    next += length
    return at
  }
  const readIov = place(Buffer.concat([u32le(BUF_ADDR), u32le(BUF_SIZE)]))
  const pwned = Buffer.from('PWNED\n')
  const pwnIov = place(Buffer.concat([u32le(place(pwned)), u32le(pwned.length)]))
  const cueIov = place(Buffer.concat([u32le(OUT_ADDR + 32), u32le(1)]))

  const body = []
  steps.forEach((step, index) => {
    const signature = SIGNATURES[step.call]
    if (!signature) throw new Error(`${step.name}: unknown call ${step.call}`)
    const slot = SLOTS + 4 * index
    const operands = []
    for (const arg of step.args) {
      if (arg === SLOT) operands.push(`(i32.const ${slot})`)
      else if (arg === BUF) operands.push(`(i32.const ${BUF_ADDR})`)
      else if (arg === BUF_LEN) operands.push(`(i32.const ${BUF_SIZE})`)
      else if (arg === OUT) operands.push(`(i32.const ${OUT_ADDR})`)
      else if (arg === READ_IOV) operands.push(`(i32.const ${readIov})`, '(i32.const 1)')
      else if (typeof arg === 'number' || typeof arg === 'bigint') {
        const type = signature[operands.length]
        operands.push(`(${type}.const ${BigInt.asIntN(type === 'i64' ? 64 : 32, BigInt(arg))})`)
      } else if (arg.str) operands.push(`(i32.const ${place(arg.str, 1)})`, `(i32.const ${arg.str.length})`)
      else if (arg.iov) {
        const text = place(arg.iov, 1)
        operands.push(`(i32.const ${place(Buffer.concat([u32le(text), u32le(arg.iov.length)]))})`, '(i32.const 1)')
      } else if (arg.iovZeros !== undefined) {
        const zeros = placeZeros(arg.iovZeros)
        operands.push(`(i32.const ${place(Buffer.concat([u32le(zeros), u32le(arg.iovZeros)]))})`, '(i32.const 1)')
      } else if (arg.fdOf !== undefined) {
        if (!names.has(arg.fdOf)) throw new Error(`${step.name}: no step named ${arg.fdOf}`)
        operands.push(`(i32.load (i32.const ${SLOTS + 4 * names.get(arg.fdOf)}))`)
      } else throw new Error(`${step.name}: bad argument ${String(arg)}`)
    }
    if (operands.length !== signature.length) {
      throw new Error(`${step.name}: ${step.call} takes ${signature.length} parameters, got ${operands.length}`)
    }
    const call = `(call $${step.call} ${operands.join(' ')})`
    const report = REPORT + 8 * index
    body.push(`    ;; ${index}: ${step.name.replace(/[^\x20-\x7e]/g, '?').slice(0, 100)}`)
    if (step.pause) {
      const text = Buffer.from(`ready ${step.name}\n`)
      body.push(`    (call $say (i32.const ${place(text, 1)}) (i32.const ${text.length}))`, '    (call $wait_cue)')
    }
    if (step.repeat) {
      body.push(
        `    (local.set $n (i32.const 0))`,
        `    (block $done (loop $again`,
        `      (local.set $errno ${call})`,
        `      (br_if $done (i32.ne (local.get $errno) (i32.const 0)))`,
        `      (local.set $n (i32.add (local.get $n) (i32.const 1)))`,
        `      (br_if $again (i32.lt_u (local.get $n) (i32.const ${step.repeat})))))`,
      )
    } else {
      body.push(`    (local.set $n (i32.const 1))`, `    (local.set $errno ${call})`)
    }
    body.push(
      `    (i32.store (i32.const ${report}) (local.get $errno))`,
      `    (i32.store (i32.const ${report + 4}) (local.get $n))`,
    )
    if (step.then === 'leak' || step.then === 'pwn') {
      body.push(`    (if (i32.eqz (local.get $errno)) (then (call $${step.then} (i32.load (i32.const ${slot})))))`)
    } else if (step.then === 'leakBuf' || step.then === 'showBuf') {
      const fd = step.then === 'leakBuf' ? leakFd : resultsFd
      body.push(`    (if (i32.eqz (local.get $errno)) (then (call $write_all (i32.const ${fd}) (i32.const ${BUF_ADDR}) (i32.load (i32.const ${OUT_ADDR})))))`)
    } else if (step.then) throw new Error(`${step.name}: unknown then: ${step.then}`)
  })

  const used = new Set(['fd_read', 'fd_write', ...steps.map((s) => s.call)])
  const imports = [...used].sort().map((name) => {
    const params = SIGNATURES[name].length ? ` (param ${SIGNATURES[name].join(' ')})` : ''
    return `  (import "wasi_snapshot_preview1" "${name}" (func $${name}${params} (result i32)))`
  })
  const minPages = Math.ceil(next / PAGE) + 1
  // Slots start out as -1, a descriptor that is never open.
  const slots = Buffer.alloc(4 * steps.length, 0xff)
  return [
    '(module',
    ...imports,
    `  (memory (export "memory") ${Math.max(pages ?? 0, minPages)})`,
    `  (data (i32.const ${SLOTS}) ${hexString(slots)})`,
    ...data.map(([at, bytes]) => `  (data (i32.const ${at}) ${hexString(bytes)})`),
    '  ;; Writes len bytes at ptr to fd (one fd_write; errors ignored).',
    '  (func $write_all (param $fd i32) (param $ptr i32) (param $len i32)',
    `    (i32.store (i32.const ${IOV_SCRATCH}) (local.get $ptr))`,
    `    (i32.store (i32.const ${IOV_SCRATCH + 4}) (local.get $len))`,
    `    (drop (call $fd_write (local.get $fd) (i32.const ${IOV_SCRATCH}) (i32.const 1) (i32.const ${NWRITTEN}))))`,
    '  ;; Reads what it can from fd into the scratch buffer and shows it on the leak fd.',
    '  (func $leak (param $fd i32)',
    `    (if (i32.eqz (call $fd_read (local.get $fd) (i32.const ${readIov}) (i32.const 1) (i32.const ${NWRITTEN})))`,
    `      (then (call $write_all (i32.const ${leakFd}) (i32.const ${BUF_ADDR}) (i32.load (i32.const ${NWRITTEN}))))))`,
    '  (func $pwn (param $fd i32)',
    `    (drop (call $fd_write (local.get $fd) (i32.const ${pwnIov}) (i32.const 1) (i32.const ${NWRITTEN}))))`,
    '  (func $say (param $ptr i32) (param $len i32)',
    `    (call $write_all (i32.const ${resultsFd}) (local.get $ptr) (local.get $len)))`,
    '  ;; Waits for one byte on stdin: the host says it is done.',
    '  (func $wait_cue',
    `    (drop (call $fd_read (i32.const 0) (i32.const ${cueIov}) (i32.const 1) (i32.const ${NWRITTEN}))))`,
    '  (func (export "_start") (local $errno i32) (local $n i32)',
    ...body,
    `    (call $write_all (i32.const ${resultsFd}) (i32.const ${REPORT}) (i32.const ${8 * steps.length})))`,
    ')',
    '',
  ].join('\n')
}

let wabtPromise
async function watToWasm(wat, name = 'guest.wat') {
  wabtPromise ??= require('wabt')()
  const wabt = await wabtPromise
  const module = wabt.parseWat(name, wat)
  try {
    module.resolveNames()
    module.validate()
    return Buffer.from(module.toBinary({}).buffer)
  } finally {
    module.destroy()
  }
}

/** `{ name: wat }` compiled: `{ name: bytes }` (benchmarks' guests). */
async function watsToWasm(sources) {
  const bytes = {}
  for (const [name, wat] of Object.entries(sources)) bytes[name] = await watToWasm(wat, `${name}.wat`)
  return bytes
}

/** Builds the guest for `steps`: { wat, bytes }. */
async function buildGuest(steps, options) {
  const wat = guestWat(steps, options)
  return { wat, bytes: await watToWasm(wat) }
}

/** Parses fd_readdir output (preview1 dirents): [{ name, type }]. */
function parseDirents(buffer) {
  const entries = []
  for (let at = 0; at + 24 <= buffer.length; ) {
    const length = buffer.readUInt32LE(at + 16)
    entries.push({ name: buffer.subarray(at + 24, at + 24 + length).toString(), type: buffer[at + 20] })
    at += 24 + length
  }
  return entries
}

/**
 * Decodes the report at the end of `output` (the guest's results fd; "ready"
 * lines before it are skipped): one { step, errno, count } per step.
 */
function decodeResults(output, steps) {
  const size = 8 * steps.length
  if (output.length < size) throw new Error(`guest report too short: ${output.length} bytes, expected ${size}`)
  const report = output.subarray(output.length - size)
  return steps.map((step, i) => ({ step, errno: report.readUInt32LE(8 * i), count: report.readUInt32LE(8 * i + 4) }))
}

/**
 * Ways to run a guest with `new WASI(options)`, by mode: natively on each
 * compiler, and in V8 (node:wasi's way). Each resolves the exit code.
 */
const RUNNERS = {
  'native, cranelift': async (bytes, options) => new WASI({ ...options, engine: 'cranelift' }).start(bytes),
  'native, singlepass': async (bytes, options) => new WASI({ ...options, engine: 'singlepass' }).start(bytes),
  V8: async (bytes, options) => {
    const wasi = new WASI(options)
    const { instance } = await WebAssembly.instantiate(bytes, wasi.getImportObject())
    return wasi.start(instance)
  },
}

module.exports = {
  RUNNERS,
  ERRNO,
  errnoName,
  LOOKUP_SYMLINK_FOLLOW,
  O,
  FDFLAGS,
  FST,
  RIGHTS_ALL,
  SIGNATURES,
  SLOT,
  BUF,
  BUF_LEN,
  OUT,
  READ_IOV,
  str,
  fdOf,
  iov,
  iovZeros,
  guestWat,
  watToWasm,
  watsToWasm,
  buildGuest,
  decodeResults,
  parseDirents,
}
