'use strict'

// Host faults under a running guest: a file (and a directory, and the
// preopen itself) deleted on the host while the guest has it open; a
// read-only directory (immutable with chattr +i, a read-only bind mount,
// chmod 555 for an unprivileged user); permission denied; a full disk
// (/dev/full as stdout, a 1 MiB tmpfs); a cross-device rename; stdout whose
// reader has gone (EPIPE). In each the guest must get an errno, and the
// Node process running it must survive.
//
// Each guest runs in a child process (fault-runner.js) in native mode
// (Cranelift) and in V8 mode: a crash of Node would show as a signal, and
// the parent can act on the host while the guest waits (the guest writes
// "ready <step>" and reads a byte from stdin before that step).
//
// Root bypasses permission bits, and CI runs as root: the chmod cases then
// run the child as `nobody` through setpriv(1); chattr +i and the mounts need
// root. Each case is skipped, with the reason, where its mechanism is not
// available.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { describe, test, after } = require('node:test')

const {
  ERRNO: E,
  O,
  RIGHTS_ALL,
  SLOT,
  BUF,
  OUT,
  READ_IOV,
  str,
  fdOf,
  iov,
  iovZeros,
  buildGuest,
  decodeResults,
  errnoName,
} = require('./raw-guest')
const { fixture } = require('./fixtures')

const RUNNER = path.join(__dirname, 'fault-runner.js')
const MODES = ['native', 'v8']
const CHILD_TIMEOUT_MS = 60_000
const PREOPEN_FD = 3

// 0755 throughout: the unprivileged child must reach the guest and preopens.
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'xwasi-faults-'))
fs.chmodSync(scratch, 0o755)
const cleanups = []
after(() => {
  for (const cleanup of cleanups.reverse()) {
    try {
      cleanup()
    } catch {}
  }
  fs.rmSync(scratch, { recursive: true, force: true })
})

let dirCount = 0
function freshDir(label) {
  const dir = path.join(scratch, `${label}-${dirCount++}`)
  fs.mkdirSync(dir, { mode: 0o755 })
  fs.chmodSync(dir, 0o755)
  return dir
}

// ---------------------------------------------------------------- capabilities

const isRoot = process.getuid?.() === 0
const sh = (cmd, args) => spawnSync(cmd, args, { encoding: 'utf8' })

function probe(fn) {
  try {
    return fn()
  } catch {
    return false
  }
}

const canChattr = probe(() => {
  const file = path.join(freshDir('probe'), 'f')
  fs.writeFileSync(file, '')
  if (sh('chattr', ['+i', file]).status !== 0) return false
  sh('chattr', ['-i', file])
  return true
})

const canMount = probe(() => {
  const dir = freshDir('probe')
  if (sh('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]).status !== 0) return false
  sh('umount', ['-l', dir])
  return true
})

// How to run a child without root's privileges: as is when not root, else
// through setpriv as nobody, when that works.
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--']
// The mechanism itself (as root): setpriv runs a child as nobody.
const canDropToNobody = isRoot && sh(NOBODY[0], [...NOBODY.slice(1), process.execPath, '-e', 'process.exit(process.getuid() === 65534 ? 0 : 1)']).status === 0
const unprivileged = (() => {
  if (!isRoot) return []
  const prefix = NOBODY
  // nobody must also reach this checkout (a clone under a 0700 temp dir is out of its reach).
  const needed = [path.join(__dirname, 'fault-runner.js'), path.join(__dirname, '..', 'index.js')]
  const probe = `const fs = require('node:fs'); process.exit(process.getuid() === 65534 && ${JSON.stringify(needed)}.every((f) => { try { fs.accessSync(f, fs.constants.R_OK); return true } catch { return false } }) ? 0 : 1)`
  const check = sh(prefix[0], [...prefix.slice(1), process.execPath, '-e', probe])
  return check.status === 0 ? prefix : null
})()

const skipUnless = (ok, reason) => (ok ? false : reason)

// ---------------------------------------------------------------- running

/**
 * Runs `wasmPath` in fault-runner.js. `stdio` replaces the child's fds 0-2
 * ('pipe' by default). `onReady(stepName, child)` is called for each
 * "ready <step>" line the guest writes to `readyStream` ('stdout' or
 * 'stderr'); once it resolves, the guest gets its cue on stdin.
 * `beforeCue(child)`: for a runner started with `waitCue`, what to do
 * before it may start the guest.
 * Resolves to { code, signal, result, stdout, stderr }.
 */
function runChild(mode, wasmPath, options = {}, { stdio = [], onReady, readyStream = 'stdout', prefix = [], beforeCue } = {}) {
  const fds = [0, 1, 2].map((i) => stdio[i] ?? 'pipe')
  const command = [...prefix, process.execPath, RUNNER, mode, wasmPath, JSON.stringify(options)]
  const child = spawn(command[0], command.slice(1), { stdio: [...fds, 'pipe'] })
  const chunks = { stdout: [], stderr: [], result: [] }
  child.stdout?.on('data', (d) => chunks.stdout.push(d))
  child.stderr?.on('data', (d) => chunks.stderr.push(d))
  child.stdio[3].on('data', (d) => chunks.result.push(d))
  child.stdin?.on('error', () => {}) // the guest may be gone before its cue
  if (beforeCue) Promise.resolve(beforeCue(child)).then(() => child.stdin.write('x'))
  if (onReady) {
    let seen = ''
    child[readyStream].on('data', async (data) => {
      seen += data.toString('latin1')
      let match
      while ((match = /ready ([^\n]*)\n/.exec(seen))) {
        seen = seen.slice(match.index + match[0].length)
        await onReady(match[1], child)
        child.stdin.write('x')
      }
    })
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`child timed out after ${CHILD_TIMEOUT_MS} ms; stderr: ${Buffer.concat(chunks.stderr)}`))
    }, CHILD_TIMEOUT_MS)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const text = Buffer.concat(chunks.result).toString()
      resolve({
        code,
        signal,
        result: text ? JSON.parse(text) : null,
        stdout: Buffer.concat(chunks.stdout),
        stderr: Buffer.concat(chunks.stderr),
      })
    })
  })
}

/** Node survived the run and the module ran to its end. */
function assertSurvived(run, label = '') {
  assert.equal(run.signal, null, `${label} Node died of ${run.signal}; stderr: ${run.stderr}`)
  assert.equal(run.code, 0, `${label} Node exited ${run.code}; stderr: ${run.stderr}`)
  assert.ok(run.result, `${label} no result from the runner; stderr: ${run.stderr}`)
}

/** Node survived, the guest returned, and every step got its errno. */
function assertErrnos(run, steps, output = run.stdout) {
  assertSurvived(run)
  assert.deepEqual(run.result, { exitCode: 0 }, `the guest did not run to its end: ${JSON.stringify(run.result)}`)
  const results = decodeResults(output, steps)
  const wrong = results
    .filter(({ step, errno }) => ![].concat(step.expect).includes(errno))
    .map(({ step, errno }) => `  "${step.name}": ${errnoName(errno)}, expected ${[].concat(step.expect).map(errnoName).join(' or ')}`)
  assert.deepEqual(wrong, [], `steps with another errno than expected:\n${wrong.join('\n')}`)
  return results
}

async function writeGuest(steps, options) {
  const { bytes } = await buildGuest(steps, options)
  const file = path.join(freshDir('guest'), 'guest.wasm')
  fs.writeFileSync(file, bytes)
  fs.chmodSync(file, 0o644)
  return file
}

// Step makers (preopen at fd 3).
const open = (name, p, { oflags = 0, follow = 0, fd = PREOPEN_FD, rights = RIGHTS_ALL } = {}) => ({
  name,
  call: 'path_open',
  args: [fd, follow, str(p), oflags, rights, rights, 0, SLOT],
})
const READ_ONLY = RIGHTS_ALL & ~((1n << 0n) | (1n << 6n) | (1n << 8n) | (1n << 22n))
const step = (name, call, args, expect = E.SUCCESS, extra = {}) => ({ name, call, args, expect, ...extra })

// ---------------------------------------------------------------- deleted while open

describe('deleted on the host while the guest has it open', () => {
  const steps = [
    { ...open('open victim.txt read-write', 'victim.txt'), expect: E.SUCCESS },
    { ...open('open directory gone/', 'gone', { oflags: O.DIRECTORY, rights: READ_ONLY }), expect: E.SUCCESS },
    step('write "before"', 'fd_write', [fdOf('open victim.txt read-write'), iov('before\n'), OUT]),
    // The host deletes victim.txt and gone/ here.
    step('write "after delete" to the deleted file', 'fd_write', [fdOf('open victim.txt read-write'), iov('after delete\n'), OUT], E.SUCCESS, { pause: true }),
    step('seek to 0', 'fd_seek', [fdOf('open victim.txt read-write'), 0n, 0, OUT]),
    step('read it all back', 'fd_read', [fdOf('open victim.txt read-write'), READ_IOV, OUT], E.SUCCESS, { then: 'showBuf' }),
    step('fd_filestat_get of the deleted file', 'fd_filestat_get', [fdOf('open victim.txt read-write'), BUF]),
    step('path_filestat_get victim.txt', 'path_filestat_get', [PREOPEN_FD, 0, str('victim.txt'), BUF], E.NOENT),
    { ...open('open victim.txt again', 'victim.txt'), expect: E.NOENT },
    step('create a file in the deleted directory', 'path_open', [fdOf('open directory gone/'), 0, str('new.txt'), O.CREAT, RIGHTS_ALL, RIGHTS_ALL, 0, SLOT], E.NOENT),
    step('fd_readdir of the deleted directory', 'fd_readdir', [fdOf('open directory gone/'), BUF, 4096, 0n, OUT]),
    // The host deletes the whole preopen here.
    { ...open('create a file in the deleted preopen', 'late.txt', { oflags: O.CREAT }), expect: E.NOENT, pause: true },
    step('mkdir in the deleted preopen', 'path_create_directory', [PREOPEN_FD, str('late-dir')], E.NOENT),
    step('write to the deleted file once more', 'fd_write', [fdOf('open victim.txt read-write'), iov('last\n'), OUT]),
    step('close the deleted file', 'fd_close', [fdOf('open victim.txt read-write')]),
    step('close the deleted directory', 'fd_close', [fdOf('open directory gone/')]),
  ]

  for (const mode of MODES) {
    test(`${mode}: reads and writes through open fds keep working; lookups by name get ENOENT`, async () => {
      const dir = freshDir('deleted')
      fs.writeFileSync(path.join(dir, 'victim.txt'), '')
      fs.mkdirSync(path.join(dir, 'gone'))
      const guest = await writeGuest(steps)
      const done = []
      const run = await runChild(mode, guest, { preopens: { '/data': dir } }, {
        onReady: (name) => {
          if (name === 'write "after delete" to the deleted file') {
            fs.unlinkSync(path.join(dir, 'victim.txt'))
            fs.rmdirSync(path.join(dir, 'gone'))
          } else {
            fs.rmSync(dir, { recursive: true })
          }
          done.push(name)
        },
      })
      assertErrnos(run, steps)
      assert.equal(done.length, 2, 'the host acted at both pauses')
      // What the guest read back from the deleted file, shown before the report.
      assert.match(run.stdout.toString('latin1'), /before\nafter delete\n/)
      assert.equal(fs.existsSync(dir), false)
    })
  }
})

// ---------------------------------------------------------------- read-only, permissions

describe('read-only directories and denied permissions', () => {
  // chattr +i: even root cannot add, remove or rename entries of an immutable
  // directory, nor write an immutable file.
  const immutableSteps = [
    { ...open('read frozen/f.txt (allowed)', 'frozen/f.txt', { rights: READ_ONLY }), expect: E.SUCCESS },
    { ...open('create frozen/new.txt', 'frozen/new.txt', { oflags: O.CREAT }), expect: E.PERM },
    step('mkdir frozen/d', 'path_create_directory', [PREOPEN_FD, str('frozen/d')], E.PERM),
    step('unlink frozen/f.txt', 'path_unlink_file', [PREOPEN_FD, str('frozen/f.txt')], E.PERM),
    step('rename frozen/f.txt out', 'path_rename', [PREOPEN_FD, str('frozen/f.txt'), PREOPEN_FD, str('moved.txt')], E.PERM),
    step('symlink in frozen/', 'path_symlink', [str('f.txt'), PREOPEN_FD, str('frozen/l')], E.PERM),
    { ...open('open locked.txt for writing', 'locked.txt'), expect: E.PERM },
    { ...open('truncate locked.txt', 'locked.txt', { oflags: O.TRUNC }), expect: E.PERM },
    step('set times of locked.txt', 'path_filestat_set_times', [PREOPEN_FD, 0, str('locked.txt'), 1n, 1n, 1 | 4], E.PERM),
    step('unlink locked.txt', 'path_unlink_file', [PREOPEN_FD, str('locked.txt')], E.PERM),
  ]
  for (const mode of MODES) {
    test(`${mode}: chattr +i directory and file: EPERM`, { skip: skipUnless(canChattr, 'chattr +i does not work here (needs root and a file system with attributes)') }, async () => {
      const dir = freshDir('immutable')
      fs.mkdirSync(path.join(dir, 'frozen'))
      fs.writeFileSync(path.join(dir, 'frozen', 'f.txt'), 'frozen\n')
      fs.writeFileSync(path.join(dir, 'locked.txt'), 'locked\n')
      const targets = [path.join(dir, 'frozen'), path.join(dir, 'locked.txt')]
      assert.equal(sh('chattr', ['+i', ...targets]).status, 0)
      const unfreeze = () => sh('chattr', ['-i', ...targets])
      cleanups.push(unfreeze)
      try {
        const run = await runChild(mode, await writeGuest(immutableSteps), { preopens: { '/data': dir } })
        assertErrnos(run, immutableSteps)
      } finally {
        unfreeze()
      }
      assert.deepEqual(fs.readdirSync(path.join(dir, 'frozen')), ['f.txt'])
      assert.equal(fs.readFileSync(path.join(dir, 'locked.txt'), 'utf8'), 'locked\n')
    })
  }

  // chmod 555 directory and 000 file, for a user that permission bits bind.
  const chmodSteps = [
    { ...open('read ro/f.txt (allowed)', 'ro/f.txt', { rights: READ_ONLY }), expect: E.SUCCESS },
    { ...open('create ro/new.txt', 'ro/new.txt', { oflags: O.CREAT }), expect: E.ACCES },
    step('mkdir ro/d', 'path_create_directory', [PREOPEN_FD, str('ro/d')], E.ACCES),
    step('unlink ro/f.txt', 'path_unlink_file', [PREOPEN_FD, str('ro/f.txt')], E.ACCES),
    step('rename ro/f.txt out', 'path_rename', [PREOPEN_FD, str('ro/f.txt'), PREOPEN_FD, str('moved.txt')], E.ACCES),
    { ...open('read secret.txt (mode 000)', 'secret.txt', { rights: READ_ONLY }), expect: E.ACCES },
    { ...open('write secret.txt (mode 000)', 'secret.txt'), expect: E.ACCES },
    { ...open('open closed/ (mode 000) as a directory', 'closed', { oflags: O.DIRECTORY, rights: READ_ONLY }), expect: E.ACCES },
    { ...open('read closed/inner.txt', 'closed/inner.txt', { rights: READ_ONLY }), expect: E.ACCES },
  ]
  const who = isRoot ? 'nobody (setpriv; root bypasses permission bits)' : 'this user'
  for (const mode of MODES) {
    test(`${mode}: chmod 555 directory, 000 file and directory, as ${who}: EACCES`, { skip: skipUnless(unprivileged, 'running as root, and setpriv cannot drop to nobody or nobody cannot read this checkout') }, async () => {
      const dir = freshDir('chmod')
      fs.mkdirSync(path.join(dir, 'ro'))
      fs.writeFileSync(path.join(dir, 'ro', 'f.txt'), 'read only\n')
      fs.writeFileSync(path.join(dir, 'secret.txt'), 'secret\n')
      fs.mkdirSync(path.join(dir, 'closed'))
      fs.writeFileSync(path.join(dir, 'closed', 'inner.txt'), 'inner\n')
      fs.chmodSync(path.join(dir, 'ro', 'f.txt'), 0o644)
      fs.chmodSync(path.join(dir, 'ro'), 0o555)
      fs.chmodSync(path.join(dir, 'secret.txt'), 0o000)
      fs.chmodSync(path.join(dir, 'closed'), 0o000)
      // The preopen itself is writable by anyone, so only the bits above deny.
      fs.chmodSync(dir, 0o777)
      cleanups.push(() => fs.chmodSync(path.join(dir, 'closed'), 0o755))
      const run = await runChild(mode, await writeGuest(chmodSteps), { preopens: { '/data': dir } }, { prefix: unprivileged })
      assertErrnos(run, chmodSteps)
      assert.deepEqual(fs.readdirSync(path.join(dir, 'ro')), ['f.txt'])
      assert.equal(fs.existsSync(path.join(dir, 'moved.txt')), false)
    })
  }

  // A read-only bind mount: EROFS from the kernel. (wasi-common has no errno
  // for it; the addon maps it, where wasmtime 49 answers EIO.)
  const roSteps = [
    { ...open('read f.txt (allowed)', 'f.txt', { rights: READ_ONLY }), expect: E.SUCCESS },
    { ...open('create new.txt', 'new.txt', { oflags: O.CREAT }), expect: E.ROFS },
    step('mkdir d', 'path_create_directory', [PREOPEN_FD, str('d')], E.ROFS),
    step('unlink f.txt', 'path_unlink_file', [PREOPEN_FD, str('f.txt')], E.ROFS),
    { ...open('open f.txt for writing', 'f.txt'), expect: E.ROFS },
  ]
  for (const mode of MODES) {
    test(`${mode}: read-only bind mount: EROFS`, { skip: skipUnless(canMount, 'cannot mount here (needs root)') }, async () => {
      const dir = freshDir('robind')
      fs.writeFileSync(path.join(dir, 'f.txt'), 'f\n')
      assert.equal(sh('mount', ['--bind', dir, dir]).status, 0)
      cleanups.push(() => sh('umount', ['-l', dir]))
      assert.equal(sh('mount', ['-o', 'remount,bind,ro', dir]).status, 0)
      const run = await runChild(mode, await writeGuest(roSteps), { preopens: { '/data': dir } })
      assertErrnos(run, roSteps)
      assert.deepEqual(fs.readdirSync(dir), ['f.txt'])
    })
  }
})

// ---------------------------------------------------------------- full disk

describe('a full disk', () => {
  const writeStdout = [
    step('fd_write to stdout (/dev/full)', 'fd_write', [1, iov('to a full disk\n'), OUT], E.NOSPC),
    step('fd_write to stdout again', 'fd_write', [1, iovZeros(65536), OUT], E.NOSPC),
  ]
  for (const mode of MODES) {
    test(`${mode}: /dev/full as stdout: fd_write gets ENOSPC`, async () => {
      const full = fs.openSync('/dev/full', 'w')
      try {
        const guest = await writeGuest(writeStdout, { resultsFd: 2 })
        const run = await runChild(mode, guest, {}, { stdio: [null, full] })
        assertErrnos(run, writeStdout, run.stderr)
      } finally {
        fs.closeSync(full)
      }
    })

    test(`${mode}: /dev/full as stdout: Go's rawwrite panics on the errno (exit 2), Go's fmt ignores it (exit 0)`, async () => {
      const full = fs.openSync('/dev/full', 'w')
      try {
        const raw = await runChild(mode, fixture('go:rawwrite'), { args: ['rawwrite'] }, { stdio: [null, full] })
        assertSurvived(raw)
        assert.deepEqual(raw.result, { exitCode: 2 })
        assert.match(raw.stderr.toString(), /panic: fd_write failed or wrote short/)
        const hello = await runChild(mode, fixture('go:hello'), { args: ['hello'] }, { stdio: [null, full] })
        assertSurvived(hello)
        assert.deepEqual(hello.result, { exitCode: 0 })
      } finally {
        fs.closeSync(full)
      }
    })
  }

  const tmpfsSteps = [
    { ...open('create big.bin', 'big.bin', { oflags: O.CREAT }), expect: E.SUCCESS },
    step('write 64 KiB at a time until the 1 MiB tmpfs is full', 'fd_write', [fdOf('create big.bin'), iovZeros(65536), OUT], E.NOSPC, { repeat: 64 }),
    step('fd_filestat_get of the full file', 'fd_filestat_get', [fdOf('create big.bin'), BUF]),
    step('fd_pwrite far into the file', 'fd_pwrite', [fdOf('create big.bin'), iovZeros(65536), 1n << 20n, OUT], E.NOSPC),
    step('fd_sync', 'fd_sync', [fdOf('create big.bin')]),
    step('close big.bin', 'fd_close', [fdOf('create big.bin')]),
    step('unlink big.bin', 'path_unlink_file', [PREOPEN_FD, str('big.bin')]),
    { ...open('create small.bin', 'small.bin', { oflags: O.CREAT }), expect: E.SUCCESS },
    step('write 64 KiB to it: there is room again', 'fd_write', [fdOf('create small.bin'), iovZeros(65536), OUT]),
  ]
  for (const mode of MODES) {
    test(`${mode}: a 1 MiB tmpfs: writes get ENOSPC when it is full, and work again after an unlink`, { skip: skipUnless(canMount, 'cannot mount a tmpfs here (needs root)') }, async (t) => {
      const dir = freshDir('tmpfs')
      assert.equal(sh('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0755', 'tmpfs', dir]).status, 0)
      cleanups.push(() => sh('umount', ['-l', dir]))
      const run = await runChild(mode, await writeGuest(tmpfsSteps), { preopens: { '/full': dir } })
      const [, fill] = assertErrnos(run, tmpfsSteps)
      // The loop's count is how many 64 KiB writes fitted: at most 16 in 1 MiB.
      assert.ok(fill.count >= 1 && fill.count <= 16, `${fill.count} writes of 64 KiB before ENOSPC`)
      t.diagnostic(`${fill.count} writes of 64 KiB succeeded, then ENOSPC`)
      assert.equal(fs.statSync(path.join(dir, 'small.bin')).size, 65536)
      sh('umount', ['-l', dir])
    })
  }

  // EXDEV: two preopens on different file systems. (Mapped by the addon, as
  // EROFS; wasmtime 49 answers EIO.)
  const xdevSteps = [
    step('rename tmpfs/m.txt to disk/m.txt', 'path_rename', [3, str('m.txt'), 4, str('m.txt')], E.XDEV),
    step('hard link tmpfs/m.txt as disk/m2.txt', 'path_link', [3, 0, str('m.txt'), 4, str('m2.txt')], E.XDEV),
  ]
  for (const mode of MODES) {
    test(`${mode}: rename and link across file systems (two preopens): EXDEV`, { skip: skipUnless(canMount, 'cannot mount a tmpfs here (needs root)') }, async () => {
      const tmpfs = freshDir('xdev-tmpfs')
      const disk = freshDir('xdev-disk')
      assert.equal(sh('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0755', 'tmpfs', tmpfs]).status, 0)
      cleanups.push(() => sh('umount', ['-l', tmpfs]))
      fs.writeFileSync(path.join(tmpfs, 'm.txt'), 'm\n')
      const run = await runChild(mode, await writeGuest(xdevSteps), { preopens: { '/tmpfs': tmpfs, '/disk': disk } })
      assertErrnos(run, xdevSteps)
      assert.deepEqual(fs.readdirSync(disk), [])
      assert.equal(fs.readFileSync(path.join(tmpfs, 'm.txt'), 'utf8'), 'm\n')
    })
  }
})

// ---------------------------------------------------------------- EPIPE

describe('stdout closed by its reader (EPIPE)', () => {
  // The guest reports on stderr; it waits until the parent has closed the
  // read end of its stdout pipe, then writes.
  const steps = [
    step('fd_write to stdout until it fails', 'fd_write', [1, iovZeros(65536), OUT], E.PIPE, { repeat: 1000, pause: true }),
    step('fd_write to stdout once more', 'fd_write', [1, iov('again\n'), OUT], E.PIPE),
    step('fd_write to stderr still works', 'fd_write', [2, iov(''), OUT]),
  ]
  for (const mode of MODES) {
    test(`${mode}: fd_write gets EPIPE, Node survives`, async () => {
      const guest = await writeGuest(steps, { resultsFd: 2 })
      const run = await runChild(mode, guest, {}, {
        readyStream: 'stderr',
        onReady: async (name, child) => {
          child.stdout.destroy()
          await new Promise((resolve) => setTimeout(resolve, 50))
        },
      })
      const [first] = assertErrnos(run, steps, run.stderr)
      assert.equal(first.count, 0, 'no write succeeded after the reader closed')
    })

    test(`${mode}: Go: rawwrite panics on EPIPE (exit 2), fmt.Println ignores it (exit 0); Node survives both`, async () => {
      const expectations = [
        ['go:rawwrite', ['rawwrite'], 2],
        ['go:hello', ['hello'], 0],
      ]
      for (const [name, args, exitCode] of expectations) {
        // The runner starts the guest only after the reader has closed.
        const run = await runChild(mode, fixture(name), { args, waitCue: true }, { beforeCue: (child) => child.stdout.destroy() })
        assertSurvived(run, name)
        assert.deepEqual(run.result, { exitCode }, `${name}: ${run.stderr}`)
        if (exitCode === 2) assert.match(run.stderr.toString(), /panic: fd_write failed or wrote short/)
      }
    })
  }
})

// CI runs as root: there, none of the cases above may be skipped for want of
// a mechanism. Elsewhere the skipped cases say why.
test('as root, every fault mechanism works (no case above is skipped)', { skip: isRoot ? false : 'not root: the cases that need root are skipped' }, (t) => {
  t.diagnostic(`chattr +i: ${canChattr}, mount: ${canMount}, setpriv to nobody: ${canDropToNobody}, nobody reaches this checkout: ${Boolean(unprivileged)}`)
  assert.equal(canChattr, true, 'chattr +i does not work')
  assert.equal(canMount, true, 'mount does not work')
  // Where the checkout lies (a clone under a 0700 temp dir is out of
  // nobody's reach) is not a mechanism: those cases then skip saying so.
  assert.equal(canDropToNobody, true, 'setpriv cannot run a child as nobody')
})
