// cpu: pure computation with almost no syscalls: SHA-256 over tens of MB,
// sorting a few million ints, JSON encoding and decoding.
package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"sort"
)

const (
	hashMB   = 32
	sortInts = 2_000_000
	records  = 40_000
)

type record struct {
	ID    int               `json:"id"`
	Name  string            `json:"name"`
	Score float64           `json:"score"`
	Tags  []string          `json:"tags"`
	Attrs map[string]string `json:"attrs"`
}

func hashing() [32]byte {
	block := make([]byte, 1<<20)
	for i := range block {
		block[i] = byte(i * 7)
	}
	h := sha256.New()
	for i := 0; i < hashMB; i++ {
		block[0] = byte(i)
		h.Write(block)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func sorting(rng *rand.Rand) int {
	ints := make([]int, sortInts)
	for i := range ints {
		ints[i] = rng.Int()
	}
	sort.Ints(ints)
	if !sort.IntsAreSorted(ints) {
		panic("not sorted")
	}
	return ints[len(ints)/2] % 1000
}

func jsonRoundTrip(rng *rand.Rand) int {
	in := make([]record, records)
	for i := range in {
		in[i] = record{
			ID:    i,
			Name:  fmt.Sprintf("record-%d", i),
			Score: rng.Float64() * 100,
			Tags:  []string{"a", "bb", fmt.Sprint(i % 17)},
			Attrs: map[string]string{"k": "v", "n": fmt.Sprint(i)},
		}
	}
	data, err := json.Marshal(in)
	if err != nil {
		panic(err)
	}
	var out []record
	if err := json.Unmarshal(data, &out); err != nil {
		panic(err)
	}
	if len(out) != len(in) || out[records-1].Attrs["n"] != fmt.Sprint(records-1) {
		panic("json round trip mismatch")
	}
	return len(data)
}

func main() {
	rng := rand.New(rand.NewSource(1))
	sum := hashing()
	median := sorting(rng)
	size := jsonRoundTrip(rng)
	fmt.Fprintf(os.Stdout, "sha256=%x sorted=%d json=%d\n", sum[:4], median, size)
}
