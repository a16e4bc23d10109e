package archive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/azdetect/azdetect/internal/state"
)

// CursorTable is the state table holding one cursor per archive blob.
const CursorTable = "archivecursors"

// cursorTTL is how long a cursor outlives its blob's hour: a late or
// repeated BlobCreated event finds it and does not read the blob again.
const cursorTTL = 24 * time.Hour

// Cursor is how far one archive blob was read, evaluated and delivered.
// Entity: PK TimeKey(hour), RK Escape(URI), Text the URI, Count the
// offset, Time the last update, Data the rest (JSON), Expires a day after
// the hour ends. Partitioning by hour lets the sweep list the blobs still
// being written (the current and previous hour) without a scan.
type Cursor struct {
	URI       string
	Container string
	Name      string
	Hour      time.Time // the hour the blob's records belong to
	Type      string    // TypeAppend or TypeBlock
	Framing   Framing

	// Offset is the byte offset up to which records were evaluated and
	// their alerts delivered: the next read starts there.
	Offset int64
	// Seen is how long the blob was when last read (a blob still that long,
	// with the same ETag, has nothing new) and BlobETag its ETag then.
	Seen     int64
	BlobETag string
	// Blocks and BlockBytes (block blobs): the committed blocks wholly
	// before Offset, and their total size. A block list whose first Blocks
	// blocks no longer add up to BlockBytes was rewritten.
	Blocks     int
	BlockBytes int64
	LastBlock  string // id of the last of those blocks

	Records int64 // records evaluated so far (for the log)
	Updated time.Time

	// Owner and LeaseUntil: the sweep that claimed the cursor reads its
	// next range; another waits until the lease ends (a crashed sweep).
	Owner      string
	LeaseUntil time.Time

	etag string // the entity's ETag
}

type cursorData struct {
	Container  string    `json:"c"`
	Name       string    `json:"n"`
	Hour       time.Time `json:"h"`
	Type       string    `json:"t,omitempty"`
	Framing    Framing   `json:"f,omitempty"`
	Seen       int64     `json:"s"`
	BlobETag   string    `json:"e,omitempty"`
	Blocks     int       `json:"b,omitempty"`
	BlockBytes int64     `json:"bb,omitempty"`
	LastBlock  string    `json:"lb,omitempty"`
	Records    int64     `json:"r"`
	Owner      string    `json:"o,omitempty"`
	LeaseUntil time.Time `json:"l,omitzero"`
}

func cursorKey(hour time.Time, uri string) state.Key {
	return state.Key{PartitionKey: state.TimeKey(hour), RowKey: state.Escape(uri)}
}

// Key is the cursor's key in CursorTable.
func (c Cursor) Key() state.Key { return cursorKey(c.Hour, c.URI) }

func (c Cursor) entity() (state.Entity, error) {
	data, err := json.Marshal(cursorData{
		Container: c.Container, Name: c.Name, Hour: c.Hour.UTC(), Type: c.Type, Framing: c.Framing,
		Seen: c.Seen, BlobETag: c.BlobETag, Blocks: c.Blocks, BlockBytes: c.BlockBytes, LastBlock: c.LastBlock,
		Records: c.Records, Owner: c.Owner, LeaseUntil: c.LeaseUntil.UTC(),
	})
	if err != nil {
		return state.Entity{}, err
	}
	k := c.Key()
	return state.Entity{
		PartitionKey: k.PartitionKey, RowKey: k.RowKey, ETag: c.etag,
		Expires: state.StampOf(c.Hour.Add(time.Hour + cursorTTL)),
		Count:   c.Offset, Time: c.Updated.UTC(), Text: c.URI, Data: data,
	}, nil
}

func cursorOf(e state.Entity) (Cursor, error) {
	var d cursorData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return Cursor{}, fmt.Errorf("archive: cursor %s: %w", e.Key(), err)
	}
	return Cursor{
		URI: e.Text, Container: d.Container, Name: d.Name, Hour: d.Hour, Type: d.Type, Framing: d.Framing,
		Offset: e.Count, Seen: d.Seen, BlobETag: d.BlobETag, Blocks: d.Blocks, BlockBytes: d.BlockBytes,
		LastBlock: d.LastBlock, Records: d.Records, Updated: e.Time, Owner: d.Owner, LeaseUntil: d.LeaseUntil,
		etag: e.ETag,
	}, nil
}

// getCursor reads one cursor; ok is false when there is none.
func getCursor(ctx context.Context, st state.Store, k state.Key) (Cursor, bool, error) {
	m, err := st.Get(ctx, CursorTable, []state.Key{k})
	if err != nil {
		return Cursor{}, false, fmt.Errorf("archive: read cursor: %w", err)
	}
	e, ok := m[k]
	if !ok {
		return Cursor{}, false, nil
	}
	c, err := cursorOf(e)
	return c, err == nil, err
}

// write stores c: Insert when it has no ETag yet, else a Replace guarded by
// its ETag. It returns (false, nil) when another writer got there first.
func writeCursor(ctx context.Context, st state.Store, c Cursor) (bool, error) {
	e, err := c.entity()
	if err != nil {
		return false, err
	}
	kind := state.Replace
	if c.etag == "" {
		kind = state.Insert
	}
	err = st.Apply(ctx, CursorTable, []state.Op{{Kind: kind, Entity: e}})
	if errors.Is(err, state.ErrConflict) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("archive: write cursor of %s: %w", c.URI, err)
	}
	return true, nil
}
