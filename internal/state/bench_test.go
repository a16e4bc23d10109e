package state_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/state"
	"github.com/azdetect/azdetect/internal/state/storetest"
)

// BenchmarkCounterBatch is a threshold rule's storage traffic for one batch
// of 1,000 records over 100 group keys (source IPs) in one window: one
// batch read of the counters, one batch write. It reports the round trips
// per 1,000 records for two key layouts: the partition is the rule and
// window (one batch touches one partition) or the group key (one batch
// touches a hundred).
func BenchmarkCounterBatch(b *testing.B) {
	stores := []struct {
		name string
		new  func(b *testing.B) state.Store
	}{
		{"memory", func(*testing.B) state.Store { return state.NewMemory() }},
		{"table", func(b *testing.B) state.Store {
			s, err := state.NewTableFromConnectionString(emulator.TableConnectionString(b), nil)
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	window := state.TimeKey(time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC))
	layouts := []struct {
		name string
		key  func(group string) state.Key
	}{
		{"partition=rule+window", func(g string) state.Key {
			return state.Key{PartitionKey: state.JoinKey("spray", window), RowKey: state.Escape(g)}
		}},
		{"partition=rule+group", func(g string) state.Key {
			return state.Key{PartitionKey: state.JoinKey("spray", g), RowKey: window}
		}},
	}
	const records, groups = 1000, 100
	for _, st := range stores {
		for _, l := range layouts {
			b.Run(st.name+"/"+l.name, func(b *testing.B) {
				s := st.new(b)
				table := storetest.TableName(b)
				ctx := b.Context()
				keys := make([]state.Key, groups)
				for i := range keys {
					keys[i] = l.key("10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256))
				}
				if _, err := s.Get(ctx, table, nil); err != nil { // create the table
					b.Fatal(err)
				}
				b.ReportAllocs()
				start := s.Ops()
				b.ResetTimer()
				for b.Loop() {
					add := make(map[state.Key]int64, groups)
					for r := range records {
						add[keys[r%groups]]++
					}
					cur, err := s.Get(ctx, table, keys)
					if err != nil {
						b.Fatal(err)
					}
					ops := make([]state.Op, 0, groups)
					for k, n := range add {
						e, ok := cur[k]
						if !ok {
							ops = append(ops, state.Op{Kind: state.Insert, Entity: state.Entity{PartitionKey: k.PartitionKey, RowKey: k.RowKey, Count: n, Expires: state.StampOf(time.Now().Add(time.Hour))}})
							continue
						}
						e.Count += n
						ops = append(ops, state.Op{Kind: state.Replace, Entity: e})
					}
					if err := s.Apply(ctx, table, ops); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(s.Ops()-start)/float64(b.N), "storage-ops/1000records")
				b.ReportMetric(float64(records*b.N)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

// BenchmarkTableRead compares the two ways to read 14 rows of one
// partition on Azurite: one query with 14 RowKey comparisons (what Get
// does) against 14 point reads.
func BenchmarkTableRead(b *testing.B) {
	s, err := state.NewTableFromConnectionString(emulator.TableConnectionString(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	table := storetest.TableName(b)
	var ops []state.Op
	var keys []state.Key
	for i := range 200 {
		e := state.Entity{PartitionKey: "p", RowKey: fmt.Sprintf("r%03d", i), Count: int64(i)}
		ops = append(ops, state.Op{Kind: state.Insert, Entity: e})
		if i%14 == 0 && len(keys) < state.MaxQueryKeys {
			keys = append(keys, e.Key())
		}
	}
	if err := s.Apply(ctx, table, ops); err != nil {
		b.Fatal(err)
	}
	b.Run("query-14", func(b *testing.B) {
		start := s.Ops()
		for b.Loop() {
			if got, err := s.Get(ctx, table, keys); err != nil || len(got) != len(keys) {
				b.Fatal(len(got), err)
			}
		}
		b.ReportMetric(float64(s.Ops()-start)/float64(b.N), "storage-ops/op")
	})
	b.Run("point-14", func(b *testing.B) {
		start := s.Ops()
		for b.Loop() {
			for _, k := range keys {
				if got, err := s.Get(ctx, table, []state.Key{k}); err != nil || len(got) != 1 {
					b.Fatal(len(got), err)
				}
			}
		}
		b.ReportMetric(float64(s.Ops()-start)/float64(b.N), "storage-ops/op")
	})
}
