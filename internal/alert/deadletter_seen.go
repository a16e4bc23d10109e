package alert

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"sync"
)

// deadKey identifies a record: where it came from and where in it. A
// record rejected by two rules is two lines: kind and reason (which names
// the rule) are part of the key. It is 128 bits of a keyed hash of those
// (deadKeyOf), not the strings: scan run again over a million malformed
// lines peaked at 805 MB holding the file's keys as strings, 186 MB as
// hashes; two records alike by chance among a million are one in 10^26.
type deadKey [2]uint64

// deadSeeds key deadKeyOf's hashes (per process: keys are never stored).
var deadSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func deadKeyOf(origin string, index int, offset int64, kind, reason string) deadKey {
	var k deadKey
	var n [16]byte
	binary.LittleEndian.PutUint64(n[:8], uint64(index))
	binary.LittleEndian.PutUint64(n[8:], uint64(offset))
	for i, seed := range deadSeeds {
		var h maphash.Hash
		h.SetSeed(seed)
		// Lengths first: no two tuples of strings write the same bytes.
		var l [24]byte
		binary.LittleEndian.PutUint64(l[:8], uint64(len(origin)))
		binary.LittleEndian.PutUint64(l[8:16], uint64(len(kind)))
		binary.LittleEndian.PutUint64(l[16:], uint64(len(reason)))
		h.Write(l[:])
		h.Write(n[:])
		h.WriteString(origin)
		h.WriteString(kind)
		h.WriteString(reason)
		k[i] = h.Sum64()
	}
	return k
}

// KeptOnce keeps in its inner sink only the records not already in the
// dead-letter file at path: rerunning scan over the same input adds no
// line. A record is known by its origin (the path as given), index and
// offset, which every line carries.
//
// It remembers the keys the file held when opened, and the ones it writes
// only for the origins read more than once in this run (ReadAgain):
// remembering every key it wrote grew its memory with each malformed
// record of the input (430 MB for a million short ones).
type KeptOnce struct {
	inner DeadLetters
	mu    sync.Mutex
	seen  map[deadKey]bool
	again map[string]bool // origins read more than once in this run
	skip  int
}

// ReadAgain says that origin is read more than once in this run (a file
// named twice): what is written for it is remembered, so that its next
// reading adds no line either.
func (k *KeptOnce) ReadAgain(origin string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.again == nil {
		k.again = map[string]bool{}
	}
	k.again[origin] = true
}

// NewKeptOnce reads the keys of the records the file at path holds (none
// when it does not exist) and wraps inner.
func NewKeptOnce(inner DeadLetters, path string) (*KeptOnce, error) {
	k := &KeptOnce{inner: inner, seen: map[deadKey]bool{}}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read dead-letter file: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReader(f))
	for {
		var l struct {
			Origin string `json:"origin"`
			Index  int    `json:"index"`
			Offset int64  `json:"offset"`
			Kind   string `json:"kind"`
			Reason string `json:"reason"`
		}
		err := dec.Decode(&l)
		if errors.Is(err, io.EOF) {
			return k, nil
		}
		if err != nil {
			// A torn last line (a run killed mid-write): what was read stands.
			return k, nil
		}
		k.seen[deadKeyOf(l.Origin, l.Index, l.Offset, l.Kind, l.Reason)] = true
	}
}

// Keep implements DeadLetters.
func (k *KeptOnce) Keep(ctx context.Context, dead []Dead) error {
	k.mu.Lock()
	fresh := dead[:0:0]
	for _, d := range dead {
		key := deadKeyOf(d.Origin, d.Index, d.Offset, d.Kind, d.Reason)
		if k.seen[key] {
			k.skip++
			continue
		}
		if k.again[d.Origin] {
			k.seen[key] = true
		}
		fresh = append(fresh, d)
	}
	k.mu.Unlock()
	return k.inner.Keep(ctx, fresh)
}

// Skipped is how many records were already in the file.
func (k *KeptOnce) Skipped() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.skip
}

// Close implements DeadLetters.
func (k *KeptOnce) Close() error { return k.inner.Close() }

var _ DeadLetters = (*KeptOnce)(nil)
