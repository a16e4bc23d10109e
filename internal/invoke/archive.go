package invoke

import (
	"context"

	"github.com/azdetect/azdetect/internal/pipeline"
)

// BlobProcessor is a Processor that follows blobs itself, with range reads
// from Blob.URI, instead of evaluating the base64 body the host sent
// (DESIGN.md "Archive ingestion": append blobs grow for an hour and raise
// one BlobCreated event). When the server's Processor implements it, blob
// invocations go to ProcessBlob, which may still fall back to the body
// (Blob.Inputs) for a blob it does not follow.
type BlobProcessor interface {
	Processor
	ProcessBlob(ctx context.Context, blob Blob, binding string) (pipeline.Report, error)
}
