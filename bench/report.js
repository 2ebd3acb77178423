'use strict'
// Turns the benchmark's measurements into markdown (also what is printed):
// a header describing the machine, then one table per measurement.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

function commandOutput(command, args, options = {}) {
  const out = spawnSync(command, args, { encoding: 'utf8', ...options })
  return out.status === 0 ? out.stdout.trim() : null
}

function cpuModel() {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))
    if (match) return match[1]
  } catch {}
  return os.cpus()[0]?.model ?? 'unknown'
}

/** The addon's file and build time: a change during a run means a rebuild. */
function addonBuild() {
  const addon = fs.readdirSync(ROOT).find((name) => name.endsWith('.node'))
  return addon ? `addon ${addon} built ${fs.statSync(path.join(ROOT, addon)).mtime.toISOString()}` : 'no addon file'
}

function addonVersion() {
  const commit = commandOutput('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }) ?? 'unknown'
  const dirty = commandOutput('git', ['status', '--porcelain', '--', 'src', 'index.js', 'lib'], { cwd: ROOT })
  return `${commit}${dirty ? ' + uncommitted changes' : ''}, ${addonBuild()}`
}

function loadAverage(values) {
  return values.map((value) => value.toFixed(2)).join(' / ')
}

/** Facts about this machine and toolchain, as [label, value] rows. */
function machine(wasmtime) {
  return [
    ['Date', new Date().toISOString()],
    ['CPU', `${cpuModel()}, ${os.cpus().length} logical cores`],
    ['Memory', `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ['OS', `${os.type()} ${os.release()} ${os.arch()}`],
    ['Node.js', process.version],
    ['Go', commandOutput('go', ['version']) ?? 'not found'],
    ['rustc', commandOutput('rustc', ['--version']) ?? 'not found'],
    ['wasmtime', wasmtime.path ? `${wasmtime.version} (${wasmtime.path})` : wasmtime.note],
    ['@x/wasi', addonVersion()],
  ]
}

// ---- formatting -------------------------------------------------------------------

function seconds(s) {
  return s < 1 ? s.toFixed(3) : s < 10 ? s.toFixed(2) : s.toFixed(1)
}

function ratio(value, base) {
  return base ? `${(value / base).toFixed(2)}×` : 'n/a'
}

/** A markdown table padded to line up in a terminal too; `right` lists right-aligned columns. */
function table(headers, rows, right = []) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)))
  const pad = (cell, i) => (right.includes(i) ? String(cell).padStart(widths[i]) : String(cell).padEnd(widths[i]))
  const line = (cells) => `| ${cells.map(pad).join(' | ')} |`
  const rule = `|${widths.map((w, i) => (right.includes(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`
  return [line(headers), rule, ...rows.map(line)].join('\n')
}

// ---- workloads ----------------------------------------------------------------------

function cellStats(cell) {
  if (!cell || cell.times.length === 0) return null
  return { median: median(cell.times), min: Math.min(...cell.times) }
}

/** The median every ratio of a workload is taken against, and whether it is the fallback. */
function baselineOf(cells, baseline, fallback) {
  const main = cellStats(cells[baseline])
  if (main) return { median: main.median, fallback: false }
  const other = cellStats(cells[fallback])
  return { median: other?.median, fallback: Boolean(other) }
}

function failureText(cell) {
  const counts = {}
  for (const failure of cell.failures) counts[failure] = (counts[failure] ?? 0) + 1
  return Object.entries(counts).map(([failure, n]) => `${failure} ${n}/${cell.failures.length + cell.times.length}`).join(', ')
}

function workloadTables(data) {
  const { workloads, runtimes, results, baseline, fallbackBaseline } = data
  const bases = Object.fromEntries(workloads.map((w) => [w.name, baselineOf(results[w.name], baseline, fallbackBaseline)]))
  const mark = (w) => (bases[w.name].fallback ? '†' : '')

  const summary = runtimes.map((runtime) => [
    runtime,
    ...workloads.map((w) => {
      const cell = results[w.name][runtime]
      const stats = cellStats(cell)
      if (!stats) return failureText(cell)
      const text = `${seconds(stats.median)} s (${ratio(stats.median, bases[w.name].median)}${mark(w)})`
      return cell.failures.length ? `${text}, ${failureText(cell)}` : text
    }),
  ])
  const detail = []
  for (const w of workloads) {
    for (const runtime of runtimes) {
      const cell = results[w.name][runtime]
      const stats = cellStats(cell)
      detail.push([
        w.name, runtime,
        stats ? seconds(stats.median) : '–',
        stats ? seconds(stats.min) : '–',
        stats ? ratio(stats.median, bases[w.name].median) + mark(w) : '–',
        `${cell.times.length}/${cell.times.length + cell.failures.length}`,
        cell.failures.length ? failureText(cell) : '',
      ])
    }
  }
  const workloadList = workloads.map((w) => `- **${w.name}** (${(w.wasmBytes / 2 ** 20).toFixed(1)} MiB of wasm): ${w.what}`)
  const footnotes = workloads.filter((w) => bases[w.name].fallback).length
    ? [`† ${baseline} (returnOnExit: true) failed every run of this workload; its ratios are to ${fallbackBaseline}.`]
    : []
  const stderr = []
  for (const w of workloads) {
    for (const runtime of runtimes) {
      const cell = results[w.name][runtime]
      if (cell.stderr) stderr.push(`- ${w.name} / ${runtime}: \`${cell.stderr.slice(0, 300)}\``)
    }
  }
  return [
    '## Workloads: one fresh process per run, wall time',
    '',
    ...workloadList,
    '',
    `Median of ${data.options.runs} runs in seconds; in brackets the ratio to ${baseline}'s median (below 1× is faster).`,
    '',
    table(['runtime', ...workloads.map((w) => w.name)], summary, workloads.map((_, i) => i + 1)),
    '',
    ...footnotes,
    ...(footnotes.length ? [''] : []),
    'Details:',
    '',
    table(['workload', 'runtime', 'median s', 'min s', `× ${baseline}`, 'ok', 'failures'], detail, [2, 3, 4, 5]),
    '',
    ...(stderr.length ? ['Last lines of stderr of the first failure of each:', '', ...stderr, ''] : []),
  ].join('\n')
}

// ---- in-process start-up and syscall overhead --------------------------------------------

function startupTable(startup) {
  const base = startup.cases.find((c) => c.name === 'node:wasi')?.median
  const rows = startup.cases.map((c) => [c.name, c.how, c.first.toFixed(1), c.median.toFixed(1), c.min.toFixed(1), ratio(c.median, base)])
  return table(['runtime', 'each run does', 'first ms', 'median ms', 'min ms', '× node:wasi'], rows, [2, 3, 4, 5])
}

function syscallTable(overhead) {
  const rows = []
  for (const syscall of [...new Set(overhead.rows.map((r) => r.syscall))]) {
    const base = overhead.rows.find((r) => r.syscall === syscall && r.runtime === 'node:wasi').nsPerCall
    rows.push([
      syscall,
      ...overhead.runtimes.map((runtime) => {
        const ns = overhead.rows.find((r) => r.syscall === syscall && r.runtime === runtime).nsPerCall
        return runtime === 'node:wasi' ? ns.toFixed(0) : `${ns.toFixed(0)} (${ratio(ns, base)})`
      }),
    ])
  }
  const lines = [table(['syscall', ...overhead.runtimes], rows, overhead.runtimes.map((_, i) => i + 1))]
  if (overhead.emptyNapi !== undefined) {
    lines.push('', `Floor of a V8-mode syscall (an N-API function that only takes its arguments and returns 0, called the same way): ${overhead.emptyNapi.toFixed(0)} ns per call.`)
  }
  if (overhead.guestLoop) {
    const { calls, ms } = overhead.guestLoop
    const what = calls.map(([name, n]) => `${n.toLocaleString('en')} ${name}`).join(' + ')
    const runtimes = Object.keys(ms)
    lines.push('', `Whole guest, ${what} in one module, compiled once, run warm (ms per run):`, '',
      table(runtimes, [runtimes.map((r) => r === 'node:wasi' ? ms[r].toFixed(1) : `${ms[r].toFixed(1)} (${ratio(ms[r], ms['node:wasi'])})`)], runtimes.map((_, i) => i)))
  }
  return lines.join('\n')
}

/** The whole report as markdown. */
function render(data) {
  return [
    '# @x/wasi benchmark',
    '',
    `\`${data.command}\``,
    '',
    table(['', ''], data.machine),
    '',
    ...(data.addonChanged ? ['**The addon was rebuilt while this ran: its rows may mix two builds.**', ''] : []),
    workloadTables(data),
    `## Start-up in one process: Go hello (${(data.startup.wasmBytes / 2 ** 20).toFixed(1)} MiB), ${data.startup.runs} runs after a first one`,
    '',
    startupTable(data.startup),
    '',
    `## Syscall overhead: ns per call, ${data.syscalls.calls.toLocaleString('en')} calls, median of ${data.syscalls.runs}`,
    '',
    'In brackets: the ratio to node:wasi. The empty loop\'s own time is subtracted.' +
      (data.syscalls.runtimes.includes('wasmtime CLI')
        ? ' wasmtime CLI: one process per run, so the empty module\'s run (start-up included) is subtracted.'
        : ''),
    '',
    syscallTable(data.syscalls),
    '',
  ].join('\n')
}

module.exports = { median, machine, loadAverage, addonBuild, render, startupTable, syscallTable, table }
