package alert

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/appendblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/rs/zerolog"
)

// DefaultDeadLetterContainer is the container infra/ creates for dead letters.
const DefaultDeadLetterContainer = "azdetect-deadletter"

// maxAppendBlock is the most bytes one append carries (the service takes
// 4 MiB per block on every API version).
const maxAppendBlock = 4 << 20

// DeadLetterBlobOptions configure a DeadLetterBlob.
type DeadLetterBlobOptions struct {
	// Container holds the dead-letter blobs (default
	// DefaultDeadLetterContainer); it must exist.
	Container string
	// Instance names this process in blob names (WEBSITE_INSTANCE_ID in
	// Azure): each instance appends to its own blobs, so appends never
	// race.
	Instance string
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger zerolog.Logger
}

// DeadLetterBlob keeps malformed and unrecognised records in Blob Storage,
// durable where a function instance's disk is not (scale-in, restart): one
// append blob per hour and instance, YYYY/MM/DD/HH/INSTANCE.jsonl, each
// line the same JSON document DeadLetterFile writes (origin, index,
// offset, source, reason, kept, the record as text or base64). A batch the
// host redelivers writes its lines again; origin, index and offset identify
// a record, so readers drop the repeats.
type DeadLetterBlob struct {
	container *container.Client
	name      string // container name, for errors
	instance  string
	now       func() time.Time
	log       zerolog.Logger

	mu      sync.Mutex
	created map[string]bool // blobs known to exist
	n       int
}

// NewDeadLetterBlob keeps dead letters in the container of a ready
// container client's service. No I/O happens until the first Keep.
func NewDeadLetterBlob(c *container.Client, opts DeadLetterBlobOptions) (*DeadLetterBlob, error) {
	if c == nil {
		return nil, errors.New("dead-letter blob sink: no container client")
	}
	inst := blobSafe(opts.Instance)
	if inst == "" {
		return nil, errors.New("dead-letter blob sink: no instance name")
	}
	d := &DeadLetterBlob{container: c, name: opts.Container, instance: inst, now: opts.Now,
		created: map[string]bool{},
		log:     opts.Logger.With().Str("component", "deadletter").Logger()}
	if d.name == "" {
		d.name = DefaultDeadLetterContainer
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d, nil
}

// blobSafe keeps the characters a blob name segment may hold without
// escaping.
func blobSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return -1
	}, strings.TrimSpace(s))
}

// BlobName is the append blob dead letters kept at t go to.
func (d *DeadLetterBlob) BlobName(t time.Time) string {
	return t.UTC().Format("2006/01/02/15/") + d.instance + ".jsonl"
}

// Keep implements DeadLetters: the lines are appended, in order, before it
// returns; an error fails the invocation, so the host redelivers the batch.
func (d *DeadLetterBlob) Keep(ctx context.Context, dead []Dead) error {
	if len(dead) == 0 {
		return nil
	}
	now := d.now().UTC()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, r := range dead {
		line := deadLine{Dead: r, Kept: now}
		if utf8.Valid(r.Bytes) {
			line.Record = string(r.Bytes)
		} else {
			line.RecordBase64 = base64.StdEncoding.EncodeToString(r.Bytes)
		}
		if err := enc.Encode(&line); err != nil {
			return fmt.Errorf("encode dead letter %s#%d: %w", r.Origin, r.Index, err)
		}
	}
	name := d.BlobName(now)
	d.mu.Lock()
	defer d.mu.Unlock()
	ab := d.container.NewAppendBlobClient(name)
	if err := d.ensure(ctx, ab, name); err != nil {
		return err
	}
	data := buf.Bytes()
	for len(data) > 0 {
		chunk := data[:min(len(data), maxAppendBlock)]
		_, err := ab.AppendBlock(ctx, streaming.NopCloser(bytes.NewReader(chunk)), nil)
		if bloberror.HasCode(err, bloberror.BlobNotFound) {
			// Deleted under us (a retention rule): create it again.
			delete(d.created, name)
			if err = d.ensure(ctx, ab, name); err == nil {
				_, err = ab.AppendBlock(ctx, streaming.NopCloser(bytes.NewReader(chunk)), nil)
			}
		}
		if err != nil {
			return fmt.Errorf("append %d dead letter(s) to blob %s/%s: %w", len(dead), d.name, name, err)
		}
		data = data[len(chunk):]
	}
	d.n += len(dead)
	d.log.Debug().Int("records", len(dead)).Str("blob", name).Msg("dead letters kept")
	return nil
}

// ensure creates the hour's append blob unless it exists.
func (d *DeadLetterBlob) ensure(ctx context.Context, ab *appendblob.Client, name string) error {
	if d.created[name] {
		return nil
	}
	ct := "application/jsonl"
	_, err := ab.Create(ctx, &appendblob.CreateOptions{
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: &ct},
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{
			IfNoneMatch: func() *azcore.ETag { e := azcore.ETagAny; return &e }(),
		}},
	})
	if err != nil && !bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) {
		return fmt.Errorf("create dead-letter blob %s/%s: %w", d.name, name, err)
	}
	d.created[name] = true
	// Only this hour's blob is appended to: forget the others.
	for n := range d.created {
		if n != name {
			delete(d.created, n)
		}
	}
	return nil
}

// Count returns how many records this process kept.
func (d *DeadLetterBlob) Count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

// Close implements DeadLetters: every Keep already wrote its lines.
func (d *DeadLetterBlob) Close() error { return nil }

var _ DeadLetters = (*DeadLetterBlob)(nil)
