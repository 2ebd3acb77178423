'use strict'

// The sandbox escape suite's data: a host layout (two preopens, canaries
// and symlinks outside and inside them), the list of raw WASI calls a guest
// makes to get out, each with the errno it must get, and a snapshot of
// everything outside the preopens to compare before and after a run.
//
// Steps (see raw-guest.js) have a `kind`:
//   attempt  tries to read, write, create, remove, rename, link, stat or
//            re-time something outside the preopens; must fail with `expect`
//   setup    prepares a later attempt (opens a directory, plants a symlink);
//            must give `expect` (0 unless noted)
//   inside   a legitimate operation inside the sandbox that shows the
//            denials come from the sandbox, not from a broken call
//
// `expect` is what wasmtime 49 returns for the same call, except where a
// step's `wasmtime` field gives wasmtime's own answer (see `node
// __test__/escapes.js --compare`, which runs the guest through @x/wasi and
// the wasmtime CLI side by side), and for a path that leads out: ESCAPE,
// ENOTCAPABLE as node:wasi answers, where wasmtime answers EPERM.
//
//   node __test__/escapes.js --compare   errno of every step: @x/wasi native, V8, wasmtime
//   node __test__/escapes.js --wat       the guest's WAT (for a fresh layout under /tmp)

const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const {
  ERRNO: E,
  LOOKUP_SYMLINK_FOLLOW: FOLLOW,
  O,
  FDFLAGS,
  FST,
  RIGHTS_ALL,
  SLOT,
  BUF,
  BUF_LEN,
  OUT,
  str,
  fdOf,
} = require('./raw-guest')

// What a path leading out of its preopen gets (node:wasi's answer).
const ESCAPE = E.NOTCAPABLE
// wasmtime's answer to the same.
const WASMTIME_ESCAPE = E.PERM

const CANARY = 'CANARY: outside the sandbox, never to be read\n'
const CANARY_INNER = 'CANARY: inside the canary directory, never to be read\n'
const INSIDE = 'inside the sandbox\n'

// Guest fds of the two preopens, in the order `preopens()` lists them.
const SANDBOX_FD = 3
const READDIR_STEP = 'control: fd_readdir of the preopen (lists . and ..)'
const OTHER_FD = 4

/**
 * Creates the host side under `root`:
 *   canary.txt, canary-link -> canary.txt, canary-dir/{inner.txt, inner-link, sub/}
 *   sandbox/  (guest /sandbox, fd 3)  inside.txt, movable*.txt, sub/, and
 *             symlinks that point out of it (absolute and relative), dangle
 *             out of it, or loop
 *   sandbox2/ (guest /other, fd 4)    b.txt
 * Returns the preopens and a token for names the guest tries to create
 * outside (so the check can look for them anywhere).
 */
function makeLayout(root) {
  const token = `xwasi-escape-${crypto.randomBytes(4).toString('hex')}`
  const at = (...parts) => path.join(root, ...parts)
  fs.writeFileSync(at('canary.txt'), CANARY)
  fs.symlinkSync('canary.txt', at('canary-link'))
  fs.mkdirSync(at('canary-dir', 'sub'), { recursive: true })
  fs.writeFileSync(at('canary-dir', 'inner.txt'), CANARY_INNER)
  fs.symlinkSync('inner.txt', at('canary-dir', 'inner-link'))

  const sandbox = at('sandbox')
  fs.mkdirSync(path.join(sandbox, 'sub'), { recursive: true })
  fs.writeFileSync(path.join(sandbox, 'inside.txt'), INSIDE)
  fs.writeFileSync(path.join(sandbox, 'movable.txt'), 'movable\n')
  fs.writeFileSync(path.join(sandbox, 'movable2.txt'), 'movable2\n')
  const links = {
    'link-abs': at('canary.txt'),
    'link-rel': '../canary.txt',
    'link-dir-abs': at('canary-dir'),
    'link-dir-rel': '../canary-dir',
    'link-via-sub': 'sub/../../canary.txt',
    'sub/link-up2': '../../canary.txt',
    'link-chain': 'link-rel',
    'link-etc': '/etc/passwd',
    'link-root': '/',
    'link-parent': '..',
    'dangling-abs': at(`${token}-dangling-abs`),
    'dangling-rel': `../${token}-dangling-rel`,
    'loop-a': 'loop-b',
    'loop-b': 'loop-a',
    'self-loop': 'self-loop',
  }
  for (const [name, target] of Object.entries(links)) fs.symlinkSync(target, path.join(sandbox, name))

  const other = at('sandbox2')
  fs.mkdirSync(other)
  fs.writeFileSync(path.join(other, 'b.txt'), 'b\n')
  return { token, preopens: { '/sandbox': sandbox, '/other': other }, sandbox, other }
}

// Step makers.
// Rights that make path_open open for writing (fd_datasync, fd_write,
// fd_allocate, fd_filestat_set_size); a directory cannot be opened with them.
const WRITE_RIGHTS = (1n << 0n) | (1n << 6n) | (1n << 8n) | (1n << 22n)
const READ_RIGHTS = RIGHTS_ALL & ~WRITE_RIGHTS
const open = (name, fd, p, { follow = true, oflags = 0, fdflags = 0, rights = RIGHTS_ALL, then } = {}) => ({
  name,
  call: 'path_open',
  args: [fd, follow ? FOLLOW : 0, str(p), oflags, rights, rights, fdflags, SLOT],
  then,
})
const read = (name, p, options = {}) =>
  open(name, options.fd ?? SANDBOX_FD, p, { rights: READ_RIGHTS, then: 'leak', ...options })
const write = (name, p, options = {}) =>
  open(name, options.fd ?? SANDBOX_FD, p, { oflags: O.TRUNC, ...options, fdflags: options.fdflags ?? 0, then: 'pwn' })
const create = (name, p, options = {}) =>
  open(name, options.fd ?? SANDBOX_FD, p, { oflags: O.CREAT, ...options, then: 'pwn' })
const dir = (name, p, options = {}) =>
  open(name, options.fd ?? SANDBOX_FD, p, { oflags: O.DIRECTORY, rights: READ_RIGHTS, ...options })
const stat = (name, p, { follow = true, fd = SANDBOX_FD } = {}) => ({
  name,
  call: 'path_filestat_get',
  args: [fd, follow ? FOLLOW : 0, str(p), BUF],
})
const readlink = (name, p, fd = SANDBOX_FD) => ({
  name,
  call: 'path_readlink',
  args: [fd, str(p), BUF, BUF_LEN, OUT],
})
const mkdir = (name, p, fd = SANDBOX_FD) => ({ name, call: 'path_create_directory', args: [fd, str(p)] })
const rmdir = (name, p, fd = SANDBOX_FD) => ({ name, call: 'path_remove_directory', args: [fd, str(p)] })
const unlink = (name, p, fd = SANDBOX_FD) => ({ name, call: 'path_unlink_file', args: [fd, str(p)] })
const symlink = (name, target, p, fd = SANDBOX_FD) => ({ name, call: 'path_symlink', args: [str(target), fd, str(p)] })
const link = (name, from, to, { follow = false, fromFd = SANDBOX_FD, toFd = SANDBOX_FD } = {}) => ({
  name,
  call: 'path_link',
  args: [fromFd, follow ? FOLLOW : 0, str(from), toFd, str(to)],
})
const rename = (name, from, to, { fromFd = SANDBOX_FD, toFd = SANDBOX_FD } = {}) => ({
  name,
  call: 'path_rename',
  args: [fromFd, str(from), toFd, str(to)],
})
// Sets atime and mtime to 1970-01-01T00:00:01Z: a change the host would see.
const touch = (name, p, { follow = true, fd = SANDBOX_FD } = {}) => ({
  name,
  call: 'path_filestat_set_times',
  args: [fd, follow ? FOLLOW : 0, str(p), 1_000_000_000n, 1_000_000_000n, FST.ATIM | FST.MTIM],
})
const readdir = (name, fd, then) => ({ name, call: 'fd_readdir', args: [fd, BUF, BUF_LEN, 0n, OUT], then })
const renumber = (name, from, to) => ({ name, call: 'fd_renumber', args: [from, to] })

const attempt = (step, expect, extra = {}) => ({ ...step, kind: 'attempt', expect, ...extra })
const setup = (step, expect = E.SUCCESS, extra = {}) => ({ ...step, kind: 'setup', expect, ...extra })
const inside = (step, expect = E.SUCCESS, extra = {}) => ({ ...step, kind: 'inside', expect, ...extra })

/** The steps of the escape guest for a layout made by makeLayout(root). */
function escapeSteps(root, token) {
  const abs = (name) => path.join(root, name)
  const long = (unit, count, tail = '') => unit.repeat(count) + tail
  return [
    // ------------------------------------------------ the sandbox works
    inside(read('control: read inside.txt', 'inside.txt', { then: undefined })),
    inside(read('control: read b.txt in the second preopen', 'b.txt', { fd: OTHER_FD, then: undefined })),
    // Its entries go to stdout ahead of the report, for the test to check.
    inside(readdir(READDIR_STEP, SANDBOX_FD, 'showBuf')),
    inside(dir('control: open . as a directory', '.')),
    inside(dir('control: open sub as a directory', 'sub')),
    inside(read('control: sub/../inside.txt stays inside', 'sub/../inside.txt', { then: undefined })),

    // ------------------------------------------------ .. traversal
    attempt(read('.. : read ../canary.txt', '../canary.txt'), ESCAPE),
    attempt(read('.. : read sub/../../canary.txt', 'sub/../../canary.txt'), ESCAPE),
    attempt(read('.. : read ./../canary.txt', './../canary.txt'), ESCAPE),
    attempt(read('.. : read ../canary-dir/inner.txt', '../canary-dir/inner.txt'), ESCAPE),
    attempt(read('.. : read ../sandbox/inside.txt (out and back in)', '../sandbox/inside.txt'), ESCAPE),
    attempt(read('.. : read ../../../../../../../../etc/passwd', '../../../../../../../../etc/passwd'), ESCAPE),
    attempt(dir('.. : open .. with O_DIRECTORY (the entry fd_readdir listed)', '..'), ESCAPE),
    attempt(dir('.. : open ../ with O_DIRECTORY', '../'), ESCAPE),
    attempt(dir('.. : open sub/../.. with O_DIRECTORY', 'sub/../..'), ESCAPE),
    attempt(dir('.. : open ../.. with O_DIRECTORY', '../..'), ESCAPE),
    attempt(read('.. : read .. without O_DIRECTORY', '..'), ESCAPE),
    attempt(write('.. : truncate and write ../canary.txt', '../canary.txt'), ESCAPE),
    attempt(write('.. : append to ../canary.txt', '../canary.txt', { oflags: 0, fdflags: FDFLAGS.APPEND }), ESCAPE),
    attempt(create('.. : create ../<token>', `../${token}-dotdot`), ESCAPE),
    attempt(create('.. : create sub/../../<token>', `sub/../../${token}-dotdot2`), ESCAPE),
    attempt(create('.. : create ../../<token> (the temp dir)', `../../${token}-dotdot3`), ESCAPE),
    attempt(stat('.. : stat ../canary.txt', '../canary.txt'), ESCAPE),
    attempt(stat('.. : stat .. (no follow)', '..', { follow: false }), ESCAPE),
    attempt(readlink('.. : readlink ../canary-link', '../canary-link'), ESCAPE),
    attempt(readdir('.. : fd_readdir of the fd a denied open of .. left (-1)', fdOf('.. : open .. with O_DIRECTORY (the entry fd_readdir listed)')), E.BADF),
    attempt(read('.. from a directory fd: open(".") then ../canary.txt', '../canary.txt', { fd: fdOf('control: open . as a directory') }), ESCAPE),
    attempt(read('.. from a directory fd: open("sub") then ../../canary.txt', '../../canary.txt', { fd: fdOf('control: open sub as a directory') }), ESCAPE),
    attempt(read('.. from the second preopen: ../canary.txt', '../canary.txt', { fd: OTHER_FD }), ESCAPE),
    attempt(read('.. from the second preopen: ../sandbox/inside.txt', '../sandbox/inside.txt', { fd: OTHER_FD }), ESCAPE),

    // ------------------------------------------------ absolute paths
    attempt(read('absolute: read /etc/passwd', '/etc/passwd'), ESCAPE),
    attempt(dir('absolute: open / as a directory', '/'), ESCAPE),
    attempt(read('absolute: read //etc/passwd', '//etc/passwd'), ESCAPE),
    attempt(read('absolute: read <host path of canary.txt>', abs('canary.txt')), ESCAPE),
    attempt(read('absolute: read /sandbox/inside.txt (the guest path of the preopen)', '/sandbox/inside.txt'), ESCAPE),
    attempt(write('absolute: truncate and write <host path of canary.txt>', abs('canary.txt')), ESCAPE),
    attempt(create('absolute: create /tmp/<token>', `/tmp/${token}-abs`), ESCAPE),
    attempt(mkdir('absolute: mkdir <host root>/<token>', abs(`${token}-absdir`)), ESCAPE),
    attempt(stat('absolute: stat /etc/passwd', '/etc/passwd'), ESCAPE),
    attempt(unlink('absolute: unlink <host path of canary.txt>', abs('canary.txt')), ESCAPE),
    attempt(touch('absolute: set times of <host path of canary.txt>', abs('canary.txt')), ESCAPE),

    // ------------------------------------------------ symlinks made by the host
    attempt(read('host symlink: read link-abs (absolute target)', 'link-abs'), ESCAPE),
    attempt(read('host symlink: read link-rel (../canary.txt)', 'link-rel'), ESCAPE),
    attempt(read('host symlink: read link-abs without following', 'link-abs', { follow: false }), E.LOOP),
    attempt(read('host symlink: read link-via-sub (sub/../../canary.txt)', 'link-via-sub'), ESCAPE),
    attempt(read('host symlink: read sub/link-up2 (../../canary.txt)', 'sub/link-up2'), ESCAPE),
    attempt(read('host symlink: read link-chain (-> link-rel -> ../canary.txt)', 'link-chain'), ESCAPE),
    attempt(read('host symlink: read link-etc (/etc/passwd)', 'link-etc'), ESCAPE),
    attempt(dir('host symlink: open link-root (/) as a directory', 'link-root'), ESCAPE),
    attempt(dir('host symlink: open link-parent (..) as a directory', 'link-parent'), ESCAPE),
    attempt(read('host symlink: read link-parent/canary.txt', 'link-parent/canary.txt'), ESCAPE),
    attempt(read('host symlink: read link-dir-abs/inner.txt', 'link-dir-abs/inner.txt'), ESCAPE),
    attempt(read('host symlink: read link-dir-rel/inner.txt', 'link-dir-rel/inner.txt'), ESCAPE),
    attempt(dir('host symlink: open link-dir-rel as a directory', 'link-dir-rel'), ESCAPE),
    attempt(write('host symlink: truncate and write link-abs', 'link-abs'), ESCAPE),
    attempt(write('host symlink: append to link-rel', 'link-rel', { oflags: 0, fdflags: FDFLAGS.APPEND }), ESCAPE),
    attempt(write('host symlink: write link-dir-rel/inner.txt', 'link-dir-rel/inner.txt'), ESCAPE),
    attempt(create('host symlink: create link-dir-rel/<token>', `link-dir-rel/${token}-in-dir`), ESCAPE),
    attempt(create('host symlink: create through dangling-abs', 'dangling-abs'), ESCAPE),
    attempt(create('host symlink: create through dangling-rel', 'dangling-rel'), ESCAPE),
    attempt(create('host symlink: O_CREAT|O_EXCL on dangling-rel', 'dangling-rel', { oflags: O.CREAT | O.EXCL }), E.EXIST),
    attempt(stat('host symlink: stat link-abs (follow)', 'link-abs'), ESCAPE),
    attempt(stat('host symlink: stat link-dir-rel/inner.txt', 'link-dir-rel/inner.txt'), ESCAPE),
    attempt(readlink('host symlink: readlink link-dir-rel/inner-link', 'link-dir-rel/inner-link'), ESCAPE),
    attempt(mkdir('host symlink: mkdir link-dir-abs/<token>', `link-dir-abs/${token}-mkdir`), ESCAPE),
    attempt(unlink('host symlink: unlink link-dir-rel/inner.txt', 'link-dir-rel/inner.txt'), ESCAPE),
    attempt(rmdir('host symlink: rmdir link-dir-rel/sub', 'link-dir-rel/sub'), ESCAPE),
    attempt(rmdir('host symlink: rmdir link-dir-abs (the link, a non-directory)', 'link-dir-abs'), E.NOTDIR),
    attempt(touch('host symlink: set times through link-abs (follow)', 'link-abs'), ESCAPE),
    attempt(touch('host symlink: set times of link-dir-rel/inner.txt', 'link-dir-rel/inner.txt'), ESCAPE),
    inside(stat('control: stat link-abs itself (no follow)', 'link-abs', { follow: false })),
    inside(readlink('control: readlink link-rel (a relative target: its text only)', 'link-rel')),
    // The link is inside; cap-std refuses to read out an absolute target:
    // EPERM, as in wasmtime (node:wasi gives the target's text).
    attempt(readlink('host symlink: readlink link-abs (an absolute target)', 'link-abs'), E.PERM),

    // ------------------------------------------------ loops
    attempt(read('loop: read loop-a (loop-a <-> loop-b)', 'loop-a'), E.LOOP),
    attempt(read('loop: read self-loop', 'self-loop'), E.LOOP),
    attempt(stat('loop: stat loop-a (follow)', 'loop-a'), E.LOOP),
    attempt(create('loop: create through self-loop', 'self-loop'), E.LOOP),

    // ------------------------------------------------ symlinks made by the guest
    setup(symlink('guest symlink: plant g-abs -> /etc/passwd', '/etc/passwd', 'g-abs'), E.PERM, {
      note: 'absolute symlink targets are refused at creation',
    }),
    setup(symlink('guest symlink: plant g-canary -> <host path of canary.txt>', abs('canary.txt'), 'g-canary'), E.PERM),
    setup(symlink('guest symlink: plant g-rel -> ../canary.txt', '../canary.txt', 'g-rel')),
    setup(symlink('guest symlink: plant g-dir -> ../canary-dir', '../canary-dir', 'g-dir')),
    setup(symlink('guest symlink: plant g-up -> ..', '..', 'g-up')),
    setup(symlink('guest symlink: plant g-dangling -> ../<token>', `../${token}-g-dangling`, 'g-dangling')),
    setup(symlink('guest symlink: plant sub/g-up2 -> ../../canary.txt', '../../canary.txt', 'sub/g-up2')),
    setup(symlink('guest symlink: plant g-loop -> g-loop', 'g-loop', 'g-loop')),
    attempt(read('guest symlink: read g-abs', 'g-abs'), E.NOENT),
    attempt(read('guest symlink: read g-canary', 'g-canary'), E.NOENT),
    attempt(read('guest symlink: read g-rel', 'g-rel'), ESCAPE),
    attempt(read('guest symlink: read sub/g-up2', 'sub/g-up2'), ESCAPE),
    attempt(read('guest symlink: read g-dir/inner.txt', 'g-dir/inner.txt'), ESCAPE),
    attempt(read('guest symlink: read g-up/canary.txt', 'g-up/canary.txt'), ESCAPE),
    attempt(dir('guest symlink: open g-up as a directory', 'g-up'), ESCAPE),
    attempt(write('guest symlink: truncate and write g-rel', 'g-rel'), ESCAPE),
    attempt(write('guest symlink: write g-dir/inner.txt', 'g-dir/inner.txt'), ESCAPE),
    attempt(create('guest symlink: create through g-dangling', 'g-dangling'), ESCAPE),
    attempt(create('guest symlink: create g-dir/<token>', `g-dir/${token}-gdir`), ESCAPE),
    attempt(stat('guest symlink: stat g-rel (follow)', 'g-rel'), ESCAPE),
    attempt(readlink('guest symlink: readlink g-dir/inner-link', 'g-dir/inner-link'), ESCAPE),
    attempt(unlink('guest symlink: unlink g-dir/inner.txt', 'g-dir/inner.txt'), ESCAPE),
    attempt(mkdir('guest symlink: mkdir g-dir/<token>', `g-dir/${token}-gmkdir`), ESCAPE),
    attempt(rmdir('guest symlink: rmdir g-dir/sub', 'g-dir/sub'), ESCAPE),
    attempt(touch('guest symlink: set times through g-rel (follow)', 'g-rel'), ESCAPE),
    attempt(rename('guest symlink: rename g-dir/inner.txt into the sandbox', 'g-dir/inner.txt', 'stolen-via-g-dir'), ESCAPE),
    attempt(link('guest symlink: hard link g-rel, following it', 'g-rel', 'g-hard', { follow: true }), E.INVAL),
    attempt(read('guest symlink: read g-loop', 'g-loop'), E.LOOP),
    attempt(symlink('guest symlink: plant a symlink outside (../<token>)', 'inside.txt', `../${token}-planted-link`), ESCAPE),
    attempt(symlink('guest symlink: plant a symlink at an absolute path', 'inside.txt', abs(`${token}-planted-link2`)), ESCAPE),
    inside(touch('control: set times of link-abs itself (no follow; canary untouched)', 'link-abs', { follow: false })),

    // ------------------------------------------------ hard links
    attempt(link('hard link: ../canary.txt into the sandbox', '../canary.txt', 'stolen-hard'), ESCAPE),
    attempt(link('hard link: <host path of canary.txt> into the sandbox', abs('canary.txt'), 'stolen-hard2'), ESCAPE),
    attempt(link('hard link: link-dir-rel/inner.txt into the sandbox', 'link-dir-rel/inner.txt', 'stolen-hard3'), ESCAPE),
    attempt(link('hard link: link-abs, following it', 'link-abs', 'stolen-hard4', { follow: true }), E.INVAL),
    attempt(link('hard link: link-rel, following it', 'link-rel', 'stolen-hard5', { follow: true }), E.INVAL),
    attempt(link('hard link: inside.txt out to ../<token>', 'inside.txt', `../${token}-planted-hard`), ESCAPE),
    attempt(link('hard link: inside.txt out to an absolute path', 'inside.txt', abs(`${token}-planted-hard2`)), ESCAPE),
    attempt(link('hard link: inside.txt out through the second preopen (../)', 'inside.txt', `../${token}-planted-hard3`, { toFd: OTHER_FD }), ESCAPE),
    attempt(link('hard link: inside.txt into link-dir-rel/', 'inside.txt', `link-dir-rel/${token}-planted-hard4`), ESCAPE),
    inside(link('control: hard link inside.txt into the second preopen', 'inside.txt', 'inside-hard.txt', { toFd: OTHER_FD })),
    inside(link('control: hard link link-rel itself (no follow) as sub/hard-of-link', 'link-rel', 'sub/hard-of-link')),
    attempt(read('hard link: read sub/hard-of-link (its ../canary.txt now means sandbox/canary.txt)', 'sub/hard-of-link'), E.NOENT),

    // ------------------------------------------------ renames
    attempt(rename('rename: movable.txt out to ../<token>', 'movable.txt', `../${token}-moved`), ESCAPE),
    attempt(rename('rename: movable.txt out to an absolute path', 'movable.txt', abs(`${token}-moved2`)), ESCAPE),
    attempt(rename('rename: ../canary.txt into the sandbox', '../canary.txt', 'stolen-rename'), ESCAPE),
    attempt(rename('rename: link-dir-rel/inner.txt into the sandbox', 'link-dir-rel/inner.txt', 'stolen-rename2'), ESCAPE),
    attempt(rename('rename: movable.txt into link-dir-rel/', 'movable.txt', `link-dir-rel/${token}-moved3`), ESCAPE),
    attempt(rename('rename: movable.txt to the second preopen, then ../', 'movable.txt', `../${token}-moved4`, { toFd: OTHER_FD }), ESCAPE),
    attempt(rename('rename: from the second preopen ../canary.txt into the sandbox', '../canary.txt', 'stolen-rename3', { fromFd: OTHER_FD }), ESCAPE),
    attempt(rename('rename: the preopen itself (.) into the second preopen', '.', 'stolen-preopen', { toFd: OTHER_FD }), E.BUSY),
    attempt(rename('rename: the second preopen itself (.) into the sandbox', '.', 'stolen-preopen2', { fromFd: OTHER_FD }), E.BUSY),
    inside(rename('control: rename movable.txt across preopens', 'movable.txt', 'moved-across.txt', { toFd: OTHER_FD })),
    inside(rename('control: rename link-rel across preopens (it still points at ../canary.txt)', 'link-rel', 'link-rel-moved', { toFd: OTHER_FD })),
    attempt(read('rename: read the moved link-rel-moved in the second preopen', 'link-rel-moved', { fd: OTHER_FD }), ESCAPE),

    // ------------------------------------------------ NUL bytes and bad UTF-8
    attempt(read('NUL: read "inside.txt\\0../canary.txt"', 'inside.txt\0../canary.txt'), E.INVAL),
    attempt(read('NUL: read "../canary.txt\\0"', '../canary.txt\0'), E.INVAL),
    attempt(read('NUL: read "\\0"', '\0'), E.INVAL),
    attempt(dir('NUL: open "..\\0" as a directory', '..\0'), E.INVAL),
    attempt(unlink('NUL: unlink "../canary.txt\\0x"', '../canary.txt\0x'), ESCAPE),
    attempt(create('NUL: create "x\\0../<token>"', `x\0../${token}-nul`), E.INVAL),
    attempt(read('bad UTF-8: read "\\xff/../../canary.txt"', Buffer.concat([Buffer.from([0xff]), Buffer.from('/../../canary.txt')])), E.ILSEQ),

    // ------------------------------------------------ over-long paths
    attempt(read('long: a 256-byte component (> NAME_MAX)', 'a'.repeat(256)), E.NAMETOOLONG),
    attempt(read('long: a 300-byte component, then ../../canary.txt', long('a', 300, '/../../canary.txt')), E.NAMETOOLONG),
    attempt(read('long: ../ x 1400 then etc/passwd (> PATH_MAX)', long('../', 1400, 'etc/passwd')), E.NAMETOOLONG),
    attempt(read('long: sub/../ x 700 then ../canary.txt (> PATH_MAX)', long('sub/../', 700, '../canary.txt')), E.NAMETOOLONG),
    attempt(read('long: ./ x 2100 then ../canary.txt (> PATH_MAX)', long('./', 2100, '../canary.txt')), E.NAMETOOLONG),
    attempt(mkdir('long: mkdir of a 5000-byte name', 'x'.repeat(5000)), E.NAMETOOLONG),
    attempt(read('long: sub/ x 1100 (> PATH_MAX, inside)', long('sub/', 1100)), E.NAMETOOLONG),

    // ------------------------------------------------ removals of outside entries
    attempt(unlink('remove: unlink ../canary.txt', '../canary.txt'), ESCAPE),
    attempt(unlink('remove: unlink ../canary-link', '../canary-link'), ESCAPE),
    attempt(rmdir('remove: rmdir ../canary-dir/sub', '../canary-dir/sub'), ESCAPE),
    attempt(rmdir('remove: rmdir ..', '..'), ESCAPE),
    attempt(rmdir('remove: rmdir ../sandbox2 (the other preopen, from outside)', '../sandbox2'), ESCAPE),
    attempt(rmdir('remove: rmdir . (the preopen itself)', '.'), E.INVAL),
    attempt(touch('times: set times of ../canary.txt', '../canary.txt'), ESCAPE),
    attempt(touch('times: set times of .. (no follow)', '..', { follow: false }), ESCAPE),
    attempt(touch('times: set times of ../canary-dir', '../canary-dir'), ESCAPE),

    // ------------------------------------------------ fd_renumber games (last: they move fd 3)
    setup(read('renumber: open inside.txt to get a spare fd', 'inside.txt', { then: undefined })),
    attempt(renumber('renumber: preopen 3 onto a descriptor that is not open (1000)', SANDBOX_FD, 1000), E.BADF),
    setup(renumber('renumber: the sandbox preopen onto the spare fd', SANDBOX_FD, fdOf('renumber: open inside.txt to get a spare fd'))),
    attempt(read('renumber: ../canary.txt through the renumbered preopen', '../canary.txt', { fd: fdOf('renumber: open inside.txt to get a spare fd') }), ESCAPE),
    attempt(read('renumber: fd 3 is gone after the renumber', 'inside.txt'), E.BADF),
    setup(renumber('renumber: the second preopen onto stdin (fd 0)', OTHER_FD, 0)),
    attempt(read('renumber: ../canary.txt through fd 0', '../canary.txt', { fd: 0 }), ESCAPE),
    attempt(dir('renumber: .. through fd 0', '..', { fd: 0 }), ESCAPE),
    inside(read('control: b.txt through fd 0', 'b.txt', { fd: 0, then: undefined })),
  ]
}

// Reads a file without updating its atime (O_NOATIME, Linux), so that the
// atime in a snapshot changes only if the guest read the file.
function readWithoutAtime(file) {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NOATIME ?? 0))
  try {
    return fs.readFileSync(fd, 'utf8')
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * Everything outside the two preopens that a guest could change: each path
 * under `root` (but not inside the preopens) with its type, content,
 * symlink target, mode, mtime, and a file's atime (with relatime, the first
 * read after a write updates it, so a read by the guest shows; directories
 * and symlinks are left out: listing them here updates theirs); plus whether anything named with `token`
 * exists in `root`'s parent, `/` or `/tmp`.
 */
function snapshotOutside(root, token, { sandbox, other }) {
  const entries = {}
  const walk = (dir) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const full = path.join(dir, name)
      const st = fs.lstatSync(full)
      const key = path.relative(root, full)
      const entry = { mode: st.mode, mtimeMs: st.mtimeMs, ino: st.ino, nlink: st.nlink }
      if (st.isSymbolicLink()) entry.link = fs.readlinkSync(full)
      else if (st.isFile()) Object.assign(entry, { atimeMs: st.atimeMs, content: readWithoutAtime(full) })
      // The preopens themselves are listed, not their content.
      else if (st.isDirectory() && full !== sandbox && full !== other) walk(full)
      if (full === sandbox || full === other) {
        delete entry.mtimeMs
        delete entry.nlink
      }
      entries[key] = entry
    }
  }
  walk(root)
  const stray = []
  for (const dir of new Set([path.dirname(root), '/', '/tmp'])) {
    for (const name of fs.readdirSync(dir)) if (name.includes(token)) stray.push(path.join(dir, name))
  }
  return { entries, stray }
}

module.exports = { CANARY, CANARY_INNER, INSIDE, READDIR_STEP, makeLayout, escapeSteps, snapshotOutside }

// ---------------------------------------------------------------- CLI

async function compareMain(argv) {
  const os = require('node:os')
  const { execFileSync, spawnSync } = require('node:child_process')
  const { buildGuest, decodeResults, errnoName } = require('./raw-guest')
  const { WASI } = require('..')
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'xwasi-escapes-'))
  const fresh = (label) => {
    const root = path.join(scratch, label)
    fs.mkdirSync(root)
    return { root, ...makeLayout(root) }
  }
  try {
    const runs = {}
    const layouts = {}
    for (const mode of ['native', 'v8', 'wasmtime']) {
      const layout = fresh(mode)
      layouts[mode] = layout
      const steps = escapeSteps(layout.root, layout.token)
      const { bytes, wat } = await buildGuest(steps)
      if (argv.includes('--wat') && mode === 'native') process.stdout.write(wat)
      const out = path.join(layout.root, 'out')
      const err = path.join(layout.root, 'err')
      if (mode === 'wasmtime') {
        const wasm = path.join(layout.root, 'guest.wasm')
        fs.writeFileSync(wasm, bytes)
        const args = ['run']
        for (const [guest, host] of Object.entries(layout.preopens)) args.push('--dir', `${host}::${guest}`)
        const child = spawnSync(process.env.WASMTIME || 'wasmtime', [...args, wasm], { encoding: 'buffer' })
        if (child.error) throw child.error
        fs.writeFileSync(out, child.stdout)
        fs.writeFileSync(err, child.stderr)
      } else {
        const fds = { stdout: fs.openSync(out, 'w'), stderr: fs.openSync(err, 'w') }
        const wasi = new WASI({ preopens: layout.preopens, ...fds })
        if (mode === 'native') wasi.start(bytes)
        else wasi.start((await WebAssembly.instantiate(bytes, wasi.getImportObject())).instance)
        fs.closeSync(fds.stdout)
        fs.closeSync(fds.stderr)
      }
      runs[mode] = decodeResults(fs.readFileSync(out), steps)
      const leaked = fs.readFileSync(err, 'utf8')
      if (leaked) console.log(`${mode} stderr: ${JSON.stringify(leaked)}`)
    }
    let differences = 0
    runs.native.forEach(({ step, errno }, i) => {
      const v8 = runs.v8[i].errno
      const wt = runs.wasmtime[i].errno
      const ours = step.expect === ESCAPE && wt === WASMTIME_ESCAPE ? wt : errno
      const mark = errno !== step.expect || v8 !== step.expect ? 'EXPECT' : wt !== ours ? 'WASMTIME' : ''
      if (mark) differences++
      if (mark || argv.includes('--all')) {
        console.log(`${mark.padEnd(8)} ${step.kind.padEnd(7)} ${step.name.slice(0, 80).padEnd(80)} expect=${errnoName(step.expect)} native=${errnoName(errno)} v8=${errnoName(v8)} wasmtime=${errnoName(wt)}`)
      }
    })
    console.log(`${runs.native.length} steps, ${differences} differ from the expectation or from wasmtime`)
    void execFileSync
  } finally {
    if (!argv.includes('--keep')) fs.rmSync(scratch, { recursive: true, force: true })
    else console.log(`kept ${scratch}`)
  }
}

if (require.main === module) {
  compareMain(process.argv.slice(2)).catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}
