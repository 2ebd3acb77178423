'use strict'
// Builds the examples' Go programs (examples/<name>/main.go) to
// examples/<name>/<name>.wasm. `npm start` and the tests call this.

const path = require('node:path')
const { buildGoWasm } = require('../scripts/go-wasm')

const GO_EXAMPLES = ['hello']

function buildAll() {
  const built = {}
  for (const name of GO_EXAMPLES) {
    Object.assign(built, buildGoWasm(__dirname, [name], path.join(__dirname, name)))
  }
  return built
}

if (require.main === module) buildAll()

module.exports = { buildAll }
