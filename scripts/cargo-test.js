#!/usr/bin/env node
'use strict'
// Rust unit tests, in the release profile so they reuse the addon's build
// (scripts/setup.js) rather than building wasmer a second time.
const { execFileSync } = require('node:child_process')
const path = require('node:path')

execFileSync('cargo', ['test', '--release', '--lib'], { cwd: path.resolve(__dirname, '..'), stdio: 'inherit' })
