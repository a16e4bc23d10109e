package archive

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/appendblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/azdetect/azdetect/internal/pipeline"
	"github.com/azdetect/azdetect/internal/source"
	"github.com/azdetect/azdetect/internal/state"
	"github.com/azdetect/azdetect/internal/state/azurite"
)

var emulator *azurite.Server

func TestMain(m *testing.M) { azurite.Main(m, azurite.Blob, &emulator) }

// counter is a Processor that frames the records and counts each by its
// text, so a test sees any record evaluated twice or never.
type counter struct {
	mu    sync.Mutex
	seen  map[string]int
	fail  error         // returned (once) instead of evaluating
	block chan struct{} // when set, Process waits for it to close
	began chan struct{} // closed when a Process started waiting
}

func (c *counter) Process(ctx context.Context, in []pipeline.Input) (pipeline.Report, error) {
	if c.block != nil {
		close(c.began)
		<-c.block
	}
	var rep pipeline.Report
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		err := c.fail
		c.fail = nil
		return rep, err
	}
	for _, i := range in {
		err := source.Records(i.Body, func(r source.Record) error {
			rep.Records++
			c.seen[strings.TrimSpace(string(r.Bytes))]++
			return nil
		})
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func (c *counter) exactlyOnce(t *testing.T, want int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) != want {
		t.Errorf("%d distinct records evaluated, want %d", len(c.seen), want)
	}
	for r, n := range c.seen {
		if n != 1 {
			t.Errorf("record %s evaluated %d times", r, n)
		}
	}
}

type fixture struct {
	blobs *Blobs
	store state.Store
	ab    *appendblob.Client
	uri   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	blobs, err := NewBlobsFromConnectionString(emulator.BlobConnectionString(t))
	if err != nil {
		t.Fatal(err)
	}
	cc := blobs.svc.NewContainerClient(ContainerActivity)
	if _, err := cc.Create(context.Background(), nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		t.Fatal(err)
	}
	name := fmt.Sprintf("resourceId=/SUBSCRIPTIONS/%s/%s/PT1H.json", strings.ToUpper(t.Name()), time.Now().UTC().Format("y=2006/m=01/d=02/h=15/m=00"))
	ab := cc.NewAppendBlobClient(name)
	if _, err := ab.Create(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return &fixture{blobs: blobs, store: state.NewMemory(), ab: ab, uri: ab.URL()}
}

func (f *fixture) append(t *testing.T, from, to int) {
	t.Helper()
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, `{"n":%d,"pad":"%s"}`+"\n", i, strings.Repeat("x", 100))
	}
	if _, err := f.ab.AppendBlock(context.Background(), streaming.NopCloser(strings.NewReader(b.String())), nil); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) sweeper(t *testing.T, p Processor, maxRange int64) *Sweeper {
	t.Helper()
	s, err := New(Options{Blobs: f.blobs, Store: f.store, Processor: p, MaxRange: maxRange, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A blob larger than one range is read in several, each moving the
// cursor, none reading a record twice or cutting one.
func TestRegisterReadsInRanges(t *testing.T) {
	f := newFixture(t)
	f.append(t, 0, 100) // about 12 KiB
	c := &counter{seen: map[string]int{}}
	res, err := f.sweeper(t, c, 1000).Register(context.Background(), f.uri)
	if err != nil {
		t.Fatal(err)
	}
	if res.Report.Records != 100 || res.Blobs != 1 {
		t.Errorf("result %+v", res)
	}
	c.exactlyOnce(t, 100)
	if _, _, ok := f.blobs.Locate("https://other.blob.core.windows.net/" + ContainerActivity + "/x"); ok {
		t.Error("a blob of another account located in this one")
	}
}

// Two sweeps at once (two instances): one claims the cursor, the other
// finds it busy and reads nothing.
func TestConcurrentSweepsReadOnce(t *testing.T) {
	f := newFixture(t)
	f.append(t, 0, 10)
	c := &counter{seen: map[string]int{}, block: make(chan struct{}), began: make(chan struct{})}
	ctx := context.Background()
	a, b := f.sweeper(t, c, 0), f.sweeper(t, &counter{seen: map[string]int{}}, 0)
	done := make(chan error, 1)
	go func() { _, err := a.Register(ctx, f.uri); done <- err }()
	<-c.began // a holds the cursor and is evaluating
	res, err := b.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Busy != 1 || res.Report.Records != 0 {
		t.Errorf("second instance: %+v, want busy and nothing read", res)
	}
	close(c.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.exactlyOnce(t, 10)
}

// A failed evaluation (a sink down) leaves the cursor where it was and
// gives it back: the next sweep reads the same records, once.
func TestFailedEvaluationKeepsCursor(t *testing.T) {
	f := newFixture(t)
	f.append(t, 0, 5)
	c := &counter{seen: map[string]int{}, fail: errors.New("sink down")}
	s := f.sweeper(t, c, 0)
	if _, err := s.Register(context.Background(), f.uri); err == nil {
		t.Fatal("a failed evaluation did not fail the registration")
	}
	f.append(t, 5, 8)
	res, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Report.Records != 8 {
		t.Errorf("sweep after the failure read %d records, want 8", res.Report.Records)
	}
	c.exactlyOnce(t, 8)
}

// TestSweepListsContainers: $logs raises no Event Grid event, so the sweep
// lists it (by hour prefix) and reads the blobs of the followed hours once,
// then only what was committed since; blobs of older hours are left alone.
// Another listed container (no hour in its names) is placed by creation
// time. A listed container that does not exist holds nothing.
func TestSweepListsContainers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	svc := f.blobs.svc
	logs := svc.NewContainerClient(ContainerStorage)
	if _, err := logs.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		t.Fatalf("create $logs: %v", err)
	}
	customName := "custom-" + strings.ToLower(rand.Text()[:8])
	custom := svc.NewContainerClient(customName)
	if _, err := custom.Create(ctx, nil); err != nil {
		t.Fatal(err)
	}
	run := strings.ToLower(rand.Text()[:10])
	now := time.Now().UTC()
	line := func(i int) string {
		return fmt.Sprintf(`{"run":"%s","n":%d}`+"\n", run, i)
	}
	// Storage Analytics commits blocks; put commits one more block each
	// call (blocks keeps the ids committed so far per blob).
	blocks := map[string][]string{}
	put := func(c *container.Client, name, body string) {
		t.Helper()
		bb := c.NewBlockBlobClient(name)
		id := base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("block-%06d", len(blocks[name]))))
		if _, err := bb.StageBlock(ctx, id, streaming.NopCloser(strings.NewReader(body)), nil); err != nil {
			t.Fatal(err)
		}
		blocks[name] = append(blocks[name], id)
		if _, err := bb.CommitBlockList(ctx, blocks[name], nil); err != nil {
			t.Fatal(err)
		}
	}
	current := "blob/" + now.Format("2006/01/02/15") + "00/" + run + "-000000.log"
	old := "blob/" + now.Add(-5*time.Hour).Format("2006/01/02/15") + "00/" + run + "-000000.log"
	put(logs, current, line(1)+line(2))
	put(logs, old, line(100))
	put(custom, run+"/events.log", line(3))

	c := &counter{seen: map[string]int{}}
	s, err := New(Options{Blobs: f.blobs, Store: f.store, Processor: c, Lease: time.Minute,
		List: []string{ContainerStorage, customName, "no-such-container"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Found != 2 || res.Report.Records != 3 {
		t.Errorf("first sweep: %+v, want 2 blobs found and 3 records", res)
	}
	// Listed again: known blobs are not found again, nor read again.
	res, err = s.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Found != 0 || res.Report.Records != 0 {
		t.Errorf("second sweep: %+v, want nothing", res)
	}
	// More lines committed to the $logs blob: only they are read.
	put(logs, current, line(4))
	if res, err = s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if res.Found != 0 || res.Report.Records != 1 {
		t.Errorf("sweep after a commit: %+v, want 1 record", res)
	}
	c.exactlyOnce(t, 4)
	// The cursor is keyed by the URI Event Grid would send: the name's
	// '/' kept.
	want := strings.TrimSuffix(svc.URL(), "/") + "/$logs/" + current
	if got := f.blobs.URI(ContainerStorage, current); got != want {
		t.Errorf("URI = %s, want %s", got, want)
	}
	if cn, name, ok := f.blobs.Locate(want); !ok || cn != ContainerStorage || name != current {
		t.Errorf("Locate(%s) = %s, %s, %t", want, cn, name, ok)
	}
}

// A block blob uploaded whole (Put Blob: no committed blocks) is read once;
// an overwrite with more records is read again from the start.
func TestPutBlobIsRead(t *testing.T) {
	blobs, err := NewBlobsFromConnectionString(emulator.BlobConnectionString(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cc := blobs.svc.NewContainerClient(ContainerActivity)
	if _, err := cc.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		t.Fatal(err)
	}
	name := fmt.Sprintf("resourceId=/SUBSCRIPTIONS/PUTBLOB/%s/PT1H.json", time.Now().UTC().Format("y=2006/m=01/d=02/h=15/m=00"))
	bb := cc.NewBlockBlobClient(name)
	doc := func(n int) []byte {
		var recs []string
		for i := 0; i < n; i++ {
			recs = append(recs, fmt.Sprintf(`{"n":%d}`, i))
		}
		return []byte(`{"records":[` + strings.Join(recs, ",") + `]}`)
	}
	if _, err := bb.UploadBuffer(ctx, doc(3), nil); err != nil {
		t.Fatal(err)
	}
	c := &counter{seen: map[string]int{}}
	s, err := New(Options{Blobs: blobs, Store: state.NewMemory(), Processor: c, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Register(ctx, bb.URL())
	if err != nil {
		t.Fatal(err)
	}
	if res.Report.Records != 3 {
		t.Fatalf("put-blob document: %d records read, want 3", res.Report.Records)
	}
	if res, err := s.Sweep(ctx); err != nil || res.Report.Records != 0 {
		t.Fatalf("sweep of an unchanged blob read %d records (%v)", res.Report.Records, err)
	}
	c.exactlyOnce(t, 3)
}
