;; Fuzz seed: a spread of instruction kinds for the compilers (integer and
;; float arithmetic, conversions, locals, loops, branches, br_table, select,
;; memory loads and stores of every width, bulk memory, reference types,
;; multi-value blocks, sign extension, saturating truncation).
(module $instructions
  (memory (export "memory") 1)
  (table $t 2 funcref)
  (func $pair (result i32 i64) (i32.const 1) (i64.const 2))
  (func $mix (param $x i32) (param $y f64) (result i64)
    (local $i i32) (local $acc i64)
    (block $out
      (loop $again
        (br_if $out (i32.ge_u (local.get $i) (local.get $x)))
        (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $i))))
        (local.set $acc (i64.rotl (local.get $acc) (i64.const 3)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $again)))
    (block $a (block $b (block $c
      (br_table $a $b $c (i32.and (local.get $x) (i32.const 3))))
      (local.set $acc (i64.mul (local.get $acc) (i64.const 7))))
      (local.set $acc (i64.xor (local.get $acc) (i64.trunc_sat_f64_s (local.get $y)))))
    (i64.store (i32.const 8) (local.get $acc))
    (i32.store8 (i32.const 1) (i32.extend8_s (local.get $x)))
    (i32.store16 (i32.const 2) (i32.wrap_i64 (local.get $acc)))
    (f32.store (i32.const 16) (f32.demote_f64 (f64.sqrt (local.get $y))))
    (f64.store (i32.const 24) (f64.copysign (local.get $y) (f64.const -1)))
    (memory.fill (i32.const 32) (i32.const 255) (i32.const 16))
    (memory.copy (i32.const 48) (i32.const 8) (i32.const 16))
    (drop (ref.is_null (table.get $t (i32.const 0))))
    (call $pair) drop drop
    (select (local.get $acc)
      (i64.add (i64.load32_s (i32.const 4)) (i64.load16_u (i32.const 2)))
      (i32.eqz (i32.popcnt (local.get $x)))))
  (func (export "_start")
    (drop (call $mix (i32.const 10) (f64.const 2.5)))))
