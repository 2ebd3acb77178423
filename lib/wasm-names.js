'use strict'
// The names a module's "name" custom section gives (module name, function
// names by function index), read from its bytes as wasmer reads them, so
// that a trap in V8 can be described as wasmer describes it. Only read when
// a trap needs it: the sections are skipped by their sizes.

const decoder = new TextDecoder('utf-8', { fatal: true })

class Reader {
  constructor(bytes, start = 0, end = bytes.length) {
    this.bytes = bytes
    this.pos = start
    this.end = end
  }

  byte() {
    if (this.pos >= this.end) throw new RangeError('truncated')
    return this.bytes[this.pos++]
  }

  u32() {
    let result = 0
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = this.byte()
      result += (byte & 0x7f) * 2 ** shift
      if ((byte & 0x80) === 0) return result
    }
    throw new RangeError('bad LEB128')
  }

  string() {
    const length = this.u32()
    if (this.pos + length > this.end) throw new RangeError('truncated')
    const text = decoder.decode(this.bytes.subarray(this.pos, this.pos + length))
    this.pos += length
    return text
  }
}

/** The name section's contents: `{ module?, functions: Map<index, name> }`. */
function readNameSection(reader) {
  const names = { module: undefined, functions: new Map() }
  while (reader.pos < reader.end) {
    const id = reader.byte()
    const size = reader.u32()
    const end = reader.pos + size
    if (end > reader.end) break
    const sub = new Reader(reader.bytes, reader.pos, end)
    if (id === 0) names.module = sub.string()
    if (id === 1) {
      for (let count = sub.u32(); count > 0; count--) {
        const index = sub.u32()
        names.functions.set(index, sub.string())
      }
    }
    reader.pos = end
  }
  return names
}

/**
 * The module's names; a module without a (readable) name section has none.
 * @param {Uint8Array} bytes
 */
function wasmNames(bytes) {
  const reader = new Reader(bytes, 8)
  try {
    while (reader.pos < reader.end) {
      const id = reader.byte()
      const size = reader.u32()
      const end = reader.pos + size
      if (id === 0) {
        const section = new Reader(bytes, reader.pos, end)
        if (section.string() === 'name') return readNameSection(section)
      }
      reader.pos = end
    }
  } catch {
    // a malformed name section names nothing (wasmer ignores it too)
  }
  return { module: undefined, functions: new Map() }
}

module.exports = { wasmNames }
