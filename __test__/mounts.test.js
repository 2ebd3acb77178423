'use strict'

// Read-only host mounts (`preopens: { '/ro': { path, readonly: true } }`) and
// in-memory trees of files (`preopens: { '/mem': { 'a.txt': 'hello' } }`).
//
// A raw WAT guest (raw-guest.js) makes each WASI call exactly as written and
// reports its errno, in native mode (both compilers) and in V8 mode:
// - read-only: reads work; every kind of change fails with EROFS (fd_write
//   on a descriptor opened for reading: EBADF, as on any filesystem) and the
//   host tree is identical afterwards: names, contents, modes, mtimes, inodes;
//   the same changes on a writable mount beside it succeed;
// - trees: the guest reads the given files, lists them, writes and reads
//   back; after the run the directory is gone.
// Go programs read from both, and option errors are TypeErrors naming the key.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { describe, test, after } = require('node:test')

const { WASI } = require('..')
const { fixtureBytes } = require('./fixtures')
const { ERRNO, O, FDFLAGS, FST, RIGHTS_ALL, SLOT, BUF, BUF_LEN, OUT, READ_IOV, str, fdOf, iov, buildGuest, decodeResults, parseDirents, errnoName, RUNNERS } = require('./raw-guest')

const RIGHT_FD_WRITE = 0x40n
const READ_RIGHTS = RIGHTS_ALL & ~RIGHT_FD_WRITE
// Descriptors of the preopens, in the order of the `preopens` object.
const FIRST_PREOPEN = 3
const SECOND_PREOPEN = 4

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'xwasi-mounts-'))
after(() => fs.rmSync(scratch, { recursive: true, force: true }))
let runCount = 0
function freshDir(label) {
  const dir = path.join(scratch, `${label}-${runCount++}`)
  fs.mkdirSync(dir)
  return dir
}


/** Runs `bytes` with `options`, stdout and stderr captured: { exitCode, stdout, stderr }. */
async function runCaptured(runner, bytes, options) {
  const io = freshDir('io')
  const out = path.join(io, 'stdout')
  const err = path.join(io, 'stderr')
  const fds = { stdin: fs.openSync('/dev/null', 'r'), stdout: fs.openSync(out, 'w'), stderr: fs.openSync(err, 'w') }
  let exitCode
  try {
    exitCode = await runner(bytes, { ...options, ...fds })
  } finally {
    for (const fd of Object.values(fds)) fs.closeSync(fd)
  }
  return { exitCode, stdout: fs.readFileSync(out), stderr: fs.readFileSync(err) }
}

/** Each step's errno that differs from its `expect`, as readable lines. */
function wrongErrnos(results) {
  return results
    .filter(({ step, errno }) => errno !== step.expect)
    .map(({ step, errno }) => `${step.name}: ${errnoName(errno)}, expected ${errnoName(step.expect)}`)
}

/** The fd_readdir entries the guest showed before its report. */
function listedNames(stdout, steps) {
  return parseDirents(stdout.subarray(0, stdout.length - 8 * steps.length)).map((e) => e.name)
}

/** Everything under `dir` a guest could change (atime aside: reads may touch it). */
function snapshot(dir) {
  const entries = {}
  const walk = (at) => {
    const st = fs.lstatSync(at)
    const entry = { mode: st.mode, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, nlink: st.nlink, size: st.size }
    if (st.isSymbolicLink()) entry.link = fs.readlinkSync(at)
    else if (st.isFile()) entry.content = fs.readFileSync(at).toString('hex')
    else if (st.isDirectory()) for (const name of fs.readdirSync(at).sort()) walk(path.join(at, name))
    entries[path.relative(dir, at) || '.'] = entry
  }
  walk(dir)
  return entries
}

// ---------------------------------------------------------------- read-only

const READ_ME = 'read me\n'

/** A read-only mount (fd 3) and a writable one beside it (fd 4). */
function readOnlyLayout() {
  const root = freshDir('ro')
  const ro = path.join(root, 'ro')
  const rw = path.join(root, 'rw')
  fs.mkdirSync(path.join(ro, 'sub'), { recursive: true })
  fs.mkdirSync(path.join(ro, 'empty'))
  fs.mkdirSync(rw)
  fs.writeFileSync(path.join(ro, 'file.txt'), READ_ME)
  fs.writeFileSync(path.join(ro, 'sub', 'inner.txt'), 'inner\n')
  fs.symlinkSync('file.txt', path.join(ro, 'link'))
  fs.writeFileSync(path.join(rw, 'src.txt'), 'movable\n')
  fs.writeFileSync(path.join(rw, 'keep.txt'), 'kept\n')
  // Old times, so that a change made "now" would show.
  const old = new Date('2001-02-03T04:05:06Z')
  for (const name of ['file.txt', 'sub/inner.txt', 'sub', 'empty', '.']) fs.utimesSync(path.join(ro, name), old, old)
  return { ro, rw, preopens: { '/ro': { path: ro, readonly: true }, '/rw': rw } }
}

function readOnlySteps() {
  const RO = FIRST_PREOPEN
  const RW = SECOND_PREOPEN
  const ROFS = ERRNO.ROFS
  const READ_FILE = 'read: open file.txt for reading'
  const SUBDIR = 'read: open sub/ as a directory'
  const open = (dir, name, oflags, rights, fdflags = 0) => [dir, 0, str(name), oflags, rights, rights, fdflags, SLOT]
  const now = [0n, 0n, FST.ATIM_NOW | FST.MTIM_NOW]
  return [
    // What a read-only mount must still allow.
    { name: READ_FILE, call: 'path_open', args: open(RO, 'file.txt', 0, READ_RIGHTS), expect: 0, then: 'leak' },
    { name: 'read: fd_readdir of the mount', call: 'fd_readdir', args: [RO, BUF, BUF_LEN, 0n, OUT], expect: 0, then: 'showBuf' },
    { name: 'read: path_filestat_get file.txt', call: 'path_filestat_get', args: [RO, 0, str('file.txt'), OUT], expect: 0 },
    { name: 'read: fd_filestat_get of the mount', call: 'fd_filestat_get', args: [RO, OUT], expect: 0 },
    { name: 'read: fd_pread file.txt', call: 'fd_pread', args: [fdOf(READ_FILE), READ_IOV, 0n, OUT], expect: 0 },
    { name: 'read: path_readlink link', call: 'path_readlink', args: [RO, str('link'), BUF, BUF_LEN, OUT], expect: 0 },
    { name: SUBDIR, call: 'path_open', args: open(RO, 'sub', O.DIRECTORY, READ_RIGHTS), expect: 0 },
    { name: 'read: fd_readdir of sub/', call: 'fd_readdir', args: [fdOf(SUBDIR), BUF, BUF_LEN, 0n, OUT], expect: 0, then: 'showBuf' },

    // Every change, refused.
    { name: 'path_open O_CREAT', call: 'path_open', args: open(RO, 'new.txt', O.CREAT, RIGHTS_ALL), expect: ROFS },
    { name: 'path_open O_CREAT|O_EXCL', call: 'path_open', args: open(RO, 'new.txt', O.CREAT | O.EXCL, RIGHTS_ALL), expect: ROFS },
    { name: 'path_open O_TRUNC, read rights', call: 'path_open', args: open(RO, 'file.txt', O.TRUNC, READ_RIGHTS), expect: ROFS },
    { name: 'path_open with fd_write right', call: 'path_open', args: open(RO, 'file.txt', 0, RIGHTS_ALL), expect: ROFS },
    { name: 'path_open FDFLAGS_APPEND', call: 'path_open', args: open(RO, 'file.txt', 0, READ_RIGHTS, FDFLAGS.APPEND), expect: ROFS },
    { name: 'path_open O_CREAT in sub/', call: 'path_open', args: open(fdOf(SUBDIR), 'new.txt', O.CREAT, RIGHTS_ALL), expect: ROFS },
    { name: 'fd_write to the file opened for reading', call: 'fd_write', args: [fdOf(READ_FILE), iov('x'), OUT], expect: ERRNO.BADF },
    { name: 'fd_pwrite to the file opened for reading', call: 'fd_pwrite', args: [fdOf(READ_FILE), iov('x'), 0n, OUT], expect: ERRNO.BADF },
    { name: 'fd_filestat_set_size', call: 'fd_filestat_set_size', args: [fdOf(READ_FILE), 0n], expect: ROFS },
    { name: 'fd_filestat_set_times of the file', call: 'fd_filestat_set_times', args: [fdOf(READ_FILE), ...now], expect: ROFS },
    { name: 'fd_filestat_set_times of the mount', call: 'fd_filestat_set_times', args: [RO, ...now], expect: ROFS },
    // wasi-common supports fd_allocate nowhere.
    { name: 'fd_allocate', call: 'fd_allocate', args: [fdOf(READ_FILE), 0n, 4096n], expect: ERRNO.NOTSUP },
    { name: 'path_create_directory', call: 'path_create_directory', args: [RO, str('newdir')], expect: ROFS },
    { name: 'path_create_directory in sub/', call: 'path_create_directory', args: [fdOf(SUBDIR), str('deeper')], expect: ROFS },
    { name: 'path_unlink_file', call: 'path_unlink_file', args: [RO, str('file.txt')], expect: ROFS },
    { name: 'path_unlink_file of a symlink', call: 'path_unlink_file', args: [RO, str('link')], expect: ROFS },
    { name: 'path_unlink_file in sub/', call: 'path_unlink_file', args: [fdOf(SUBDIR), str('inner.txt')], expect: ROFS },
    { name: 'path_remove_directory', call: 'path_remove_directory', args: [RO, str('empty')], expect: ROFS },
    { name: 'path_rename within', call: 'path_rename', args: [RO, str('file.txt'), RO, str('renamed.txt')], expect: ROFS },
    { name: 'path_rename into it from the writable mount', call: 'path_rename', args: [RW, str('src.txt'), RO, str('moved-in.txt')], expect: ROFS },
    { name: 'path_rename out of it', call: 'path_rename', args: [RO, str('file.txt'), RW, str('moved-out.txt')], expect: ROFS },
    { name: 'path_rename of sub/ out of it', call: 'path_rename', args: [RO, str('sub'), RW, str('sub-out')], expect: ROFS },
    { name: 'path_symlink', call: 'path_symlink', args: [str('file.txt'), RO, str('guest-link')], expect: ROFS },
    { name: 'path_link within', call: 'path_link', args: [RO, 0, str('file.txt'), RO, str('hard.txt')], expect: ROFS },
    { name: 'path_link into it', call: 'path_link', args: [RW, 0, str('keep.txt'), RO, str('hard-in.txt')], expect: ROFS },
    { name: 'path_link out of it', call: 'path_link', args: [RO, 0, str('file.txt'), RW, str('hard-out.txt')], expect: ROFS },
    { name: 'path_filestat_set_times', call: 'path_filestat_set_times', args: [RO, 0, str('file.txt'), ...now], expect: ROFS },
    { name: 'path_filestat_set_times through a symlink', call: 'path_filestat_set_times', args: [RO, 1, str('link'), ...now], expect: ROFS },
    { name: 'path_filestat_set_times in sub/', call: 'path_filestat_set_times', args: [fdOf(SUBDIR), 0, str('inner.txt'), ...now], expect: ROFS },

    // The same kinds of change on the writable mount: the guest can write, just not there.
    { name: 'writable: create and write', call: 'path_open', args: open(RW, 'created.txt', O.CREAT, RIGHTS_ALL), expect: 0, then: 'pwn' },
    { name: 'writable: rename', call: 'path_rename', args: [RW, str('src.txt'), RW, str('renamed.txt')], expect: 0 },
    { name: 'writable: mkdir', call: 'path_create_directory', args: [RW, str('made')], expect: 0 },
  ]
}

describe('read-only mounts', () => {
  for (const [mode, runner] of Object.entries(RUNNERS)) {
    test(`${mode}: reads work, every change is refused, the host tree is unchanged`, async () => {
      const layout = readOnlyLayout()
      const before = snapshot(layout.ro)
      const steps = readOnlySteps()
      const { bytes } = await buildGuest(steps)
      const run = await runCaptured(runner, bytes, { preopens: layout.preopens })

      assert.equal(run.exitCode, 0, `stderr: ${run.stderr}`)
      assert.deepEqual(wrongErrnos(decodeResults(run.stdout, steps)), [])
      assert.equal(run.stderr.toString(), READ_ME, 'the guest read file.txt')
      const listed = listedNames(run.stdout, steps)
      for (const name of ['file.txt', 'sub', 'empty', 'link', 'inner.txt']) assert.ok(listed.includes(name), `listed ${name}: ${listed}`)

      assert.deepEqual(snapshot(layout.ro), before, 'the read-only tree changed')
      assert.deepEqual(fs.readdirSync(layout.rw).sort(), ['created.txt', 'keep.txt', 'made', 'renamed.txt'])
      assert.equal(fs.readFileSync(path.join(layout.rw, 'created.txt'), 'utf8'), 'PWNED\n')
    })
  }

  test('a Go program reads a read-only mount and gets "read-only file system" when it writes', async () => {
    const layout = readOnlyLayout()
    fs.writeFileSync(path.join(layout.ro, 'input.txt'), 'from the host\n')
    const before = snapshot(layout.ro)
    const run = await runCaptured(RUNNERS['native, cranelift'], fixtureBytes('go:fileio'), {
      args: ['fileio', '/ro'],
      preopens: { '/ro': { path: layout.ro, readonly: true } },
    })
    assert.equal(run.stdout.toString(), 'read input.txt: "from the host\\n"\ncreate notes.txt: FAILED: open /ro/notes.txt: Read-only file system\n')
    assert.equal(run.exitCode, 2)
    assert.deepEqual(snapshot(layout.ro), before)
  })

  test('`readonly: false` and a plain string are the same writable mount', async () => {
    const dir = freshDir('rw')
    const steps = [{ name: 'mkdir', call: 'path_create_directory', args: [FIRST_PREOPEN, str('made')], expect: 0 }]
    const { bytes } = await buildGuest(steps)
    for (const preopen of [dir, { path: dir }, { path: dir, readonly: false }]) {
      fs.rmSync(path.join(dir, 'made'), { recursive: true, force: true })
      const run = await runCaptured(RUNNERS['native, cranelift'], bytes, { preopens: { '/w': preopen } })
      assert.deepEqual(wrongErrnos(decodeResults(run.stdout, steps)), [])
      assert.ok(fs.statSync(path.join(dir, 'made')).isDirectory())
    }
  })

  test('bad { path, readonly } objects are TypeErrors naming the option', () => {
    const cases = [
      [{ path: 5 }, /options\.preopens\['\/d'\]\.path/],
      [{ path: '' }, /options\.preopens\['\/d'\]\.path/],
      [{ readonly: true }, /options\.preopens\['\/d'\]\.path" property must be a non-empty string/],
      [{ path: '.', readonly: 'yes' }, /options\.preopens\['\/d'\]\.readonly" property must be of type boolean/],
      [{ path: '.', readOnly: true }, /options\.preopens\['\/d'\]\.readOnly" property must be absent/],
      [Buffer.from('.'), /options\.preopens\['\/d'\]" property must be a string, \{ path, readonly \} or an object of files/],
      [null, /options\.preopens\['\/d'\]"/],
      [42, /options\.preopens\['\/d'\]"/],
    ]
    for (const [preopen, message] of cases) {
      assert.throws(() => new WASI({ preopens: { '/d': preopen } }), (err) => err instanceof TypeError && message.test(err.message), String(preopen))
    }
  })
})

// ---------------------------------------------------------------- trees

const TREE_ROOT = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()
const B_BIN = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x0a])

function treeDirs() {
  const dirs = new Set()
  for (const parent of new Set([TREE_ROOT, os.tmpdir()])) {
    for (const name of fs.readdirSync(parent)) if (name.startsWith('x-wasi-tree-')) dirs.add(path.join(parent, name))
  }
  return dirs
}

/** The tree directories that exist now but not in `before`. */
function newTreeDirs(before) {
  return [...treeDirs()].filter((dir) => !before.has(dir))
}

function treeSteps() {
  const MEM = FIRST_PREOPEN
  const open = (dir, name, oflags, rights) => [dir, 0, str(name), oflags, rights, rights, 0, SLOT]
  return [
    { name: 'read a.txt', call: 'path_open', args: open(MEM, 'a.txt', 0, READ_RIGHTS), expect: 0, then: 'leak' },
    { name: 'read dir/b.bin', call: 'path_open', args: open(MEM, 'dir/b.bin', 0, READ_RIGHTS), expect: 0, then: 'leak' },
    { name: 'list the tree', call: 'fd_readdir', args: [MEM, BUF, BUF_LEN, 0n, OUT], expect: 0, then: 'showBuf' },
    { name: 'open dir/', call: 'path_open', args: open(MEM, 'dir', O.DIRECTORY, READ_RIGHTS), expect: 0 },
    { name: 'list dir/', call: 'fd_readdir', args: [fdOf('open dir/'), BUF, BUF_LEN, 0n, OUT], expect: 0, then: 'showBuf' },
    { name: 'create new.txt', call: 'path_open', args: open(MEM, 'new.txt', O.CREAT | O.EXCL, RIGHTS_ALL), expect: 0, then: 'pwn' },
    { name: 'read new.txt back', call: 'path_open', args: open(MEM, 'new.txt', 0, READ_RIGHTS), expect: 0, then: 'leak' },
    { name: 'mkdir made', call: 'path_create_directory', args: [MEM, str('made')], expect: 0 },
    { name: 'overwrite a.txt', call: 'path_open', args: open(MEM, 'a.txt', O.TRUNC, RIGHTS_ALL), expect: 0, then: 'pwn' },
    { name: 'no way out', call: 'path_open', args: open(MEM, '../escaped.txt', O.CREAT, RIGHTS_ALL), expect: ERRNO.NOTCAPABLE },
  ]
}

describe('in-memory trees', () => {
  for (const [mode, runner] of Object.entries(RUNNERS)) {
    test(`${mode}: the guest reads, lists and writes the tree; it is gone after the run`, async () => {
      const steps = treeSteps()
      const { bytes } = await buildGuest(steps)
      const before = treeDirs()
      const givenBin = Buffer.from(B_BIN)
      const run = await runCaptured(runner, bytes, { preopens: { '/mem': { 'a.txt': 'hello', 'dir/b.bin': givenBin } } })
      assert.deepEqual(newTreeDirs(before), [], 'the tree directory is removed after the run')
      assert.equal(run.exitCode, 0, `stderr: ${run.stderr}`)
      assert.deepEqual(wrongErrnos(decodeResults(run.stdout, steps)), [])
      assert.deepEqual(run.stderr, Buffer.concat([Buffer.from('hello'), B_BIN, Buffer.from('PWNED\n')]))
      const listed = listedNames(run.stdout, steps)
      for (const name of ['a.txt', 'dir', 'b.bin']) assert.ok(listed.includes(name), `listed ${name}: ${listed}`)
      assert.deepEqual(givenBin, B_BIN, 'the caller\'s buffer is untouched')
      assert.ok(!fs.existsSync(path.join(TREE_ROOT, 'escaped.txt')))
    })
  }

  test('the tree lives in a private directory under /dev/shm (else the temp dir) until the run', async () => {
    const before = treeDirs()
    const wasi = new WASI({ preopens: { '/mem': { 'a.txt': 'hello', 'dir/b.bin': B_BIN, 'u8.bin': new Uint8Array([7, 8]), readonly: 'a file' } } })
    const [dir] = newTreeDirs(before)
    assert.ok(dir, 'a directory was made')
    assert.equal(path.dirname(dir), TREE_ROOT)
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700)
    assert.equal(fs.readFileSync(path.join(dir, 'a.txt'), 'utf8'), 'hello')
    assert.deepEqual(fs.readFileSync(path.join(dir, 'dir', 'b.bin')), B_BIN)
    assert.deepEqual(fs.readFileSync(path.join(dir, 'u8.bin')), Buffer.from([7, 8]))
    assert.equal(fs.readFileSync(path.join(dir, 'readonly'), 'utf8'), 'a file', "a text file named 'readonly' is a file")
    // A guest that does nothing: another object's run leaves this tree alone.
    const { bytes } = await buildGuest([])
    assert.equal(new WASI().start(bytes), 0)
    assert.equal(fs.existsSync(dir), true, 'kept until its own run')
    assert.equal(wasi.start(bytes), 0)
    assert.equal(fs.existsSync(dir), false)
  })

  test('the tree is removed when the guest traps', () => {
    const before = treeDirs()
    const wasi = new WASI({ preopens: { '/mem': { 'a.txt': 'x' } } })
    assert.equal(newTreeDirs(before).length, 1)
    assert.throws(() => wasi.start(fixtureBytes('wat:trap_unreachable')), WebAssembly.RuntimeError)
    assert.deepEqual(newTreeDirs(before), [])
  })

  test('a tree of an object that never runs is removed at process exit', () => {
    const child = spawnSync(process.execPath, ['-e', `
      const fs = require('node:fs')
      const { WASI } = require(${JSON.stringify(path.join(__dirname, '..'))})
      const before = new Set(fs.readdirSync(${JSON.stringify(TREE_ROOT)}))
      new WASI({ preopens: { '/mem': { 'a.txt': 'x' } } })
      const made = fs.readdirSync(${JSON.stringify(TREE_ROOT)}).filter((n) => n.startsWith('x-wasi-tree-') && !before.has(n))
      console.log(JSON.stringify(made))
    `], { encoding: 'utf8' })
    assert.equal(child.status, 0, child.stderr)
    const made = JSON.parse(child.stdout)
    assert.equal(made.length, 1)
    assert.equal(fs.existsSync(path.join(TREE_ROOT, made[0])), false)
  })

  test('a Go program reads files of a tree', async () => {
    const run = await runCaptured(RUNNERS['native, singlepass'], fixtureBytes('go:cat'), {
      args: ['cat', '/mem/a.txt', '/mem/dir/b.txt'],
      preopens: { '/mem': { 'a.txt': 'hello', 'dir/b.txt': Buffer.from('from a buffer\n') } },
    })
    assert.equal(run.stdout.toString(), 'wd: "/mem"\n/mem/a.txt: "hello"\n/mem/dir/b.txt: "from a buffer\\n"\n')
    assert.equal(run.exitCode, 0)
  })

  test('bad trees are TypeErrors naming the key, and leave no directory behind', () => {
    const cases = [
      [{ '/abs.txt': 'x' }, /\['\/abs\.txt'\]/],
      [{ '../up.txt': 'x' }, /\['\.\.\/up\.txt'\]/],
      [{ 'a/../b': 'x' }, /\['a\/\.\.\/b'\]/],
      [{ './a': 'x' }, /\['\.\/a'\]/],
      [{ 'a//b': 'x' }, /\['a\/\/b'\]/],
      [{ 'dir/': 'x' }, /\['dir\/'\]/],
      [{ '': 'x' }, /\[''\]/],
      [{ 'nul\0.txt': 'x' }, /\['nul\0\.txt'\]/],
      [{ a: 'x', 'a/b': 'y' }, /\['a\/b'\].*parent 'a' is not also a file/],
      [{ 'a.txt': 42 }, /\['a\.txt'\]" property must be a string, Buffer or Uint8Array/],
      [{ 'a.txt': ['x'] }, /\['a\.txt'\]/],
      [{ 'a.txt': null }, /\['a\.txt'\]/],
    ]
    const before = treeDirs()
    for (const [tree, message] of cases) {
      assert.throws(
        () => new WASI({ preopens: { '/mem': tree } }),
        (err) => err instanceof TypeError && /options\.preopens\['\/mem'\]/.test(err.message) && message.test(err.message),
        JSON.stringify(tree),
      )
    }
    // A good tree before a bad preopen, or before a host directory that does not exist.
    assert.throws(() => new WASI({ preopens: { '/ok': { 'a.txt': 'x' }, '/bad': 5 } }), TypeError)
    assert.throws(() => new WASI({ preopens: { '/ok': { 'a.txt': 'x' }, '/gone': path.join(scratch, 'no-such-dir') } }), /no-such-dir/)
    assert.deepEqual(newTreeDirs(before), [])
  })
})
