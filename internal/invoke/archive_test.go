package invoke

import (
	"context"
	"strings"
	"testing"

	"github.com/azdetect/azdetect/internal/pipeline"
)

// blobFollower is a BlobProcessor: blob invocations reach ProcessBlob with
// the blob's Uri; other triggers still reach Process.
type blobFollower struct {
	recorder
	blobs []Blob
}

func (f *blobFollower) ProcessBlob(ctx context.Context, b Blob, binding string) (pipeline.Report, error) {
	f.mu.Lock()
	f.blobs = append(f.blobs, b)
	f.mu.Unlock()
	return pipeline.Report{Records: 3}, nil
}

func TestBlobProcessorGetsBlobInvocations(t *testing.T) {
	f := &blobFollower{}
	base, _, _ := startServer(t, ServerOptions{Processor: f})
	resp, body := post(t, base+"/"+FunctionBlob, readInvocation(t, "blob.json"))
	if resp.StatusCode != 200 || !strings.Contains(string(body), "ingest-blob: 3 records") {
		t.Fatalf("blob invocation: %d %s", resp.StatusCode, body)
	}
	if len(f.blobs) != 1 || !strings.HasPrefix(f.blobs[0].URI, "https://") || f.blobs[0].Container() != "insights-activity-logs" {
		t.Errorf("ProcessBlob got %+v", f.blobs)
	}
	if len(f.all()) != 0 {
		t.Errorf("the blob also went to Process: %+v", f.all())
	}
	resp, body = post(t, base+"/"+FunctionEventHub, readInvocation(t, "eventhub.json"))
	if resp.StatusCode != 200 || len(f.all()) == 0 {
		t.Errorf("event hub invocation: %d %s; Process got %d inputs", resp.StatusCode, body, len(f.all()))
	}
}
