package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/rs/zerolog"

	"github.com/azdetect/azdetect/internal/archive"
	"github.com/azdetect/azdetect/internal/config"
	"github.com/azdetect/azdetect/internal/invoke"
	"github.com/azdetect/azdetect/internal/pipeline"
	"github.com/azdetect/azdetect/internal/state"
)

// azuriteBlobConnection is what UseDevelopmentStorage=true stands for:
// Azurite's Blob service on its default port, with its published key.
const azuriteBlobConnection = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
	"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
	"BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"

// archiveBeforeMove is a test seam: tests set it to stop a sweep between
// evaluating a range and moving its cursor, as a crash would.
var archiveBeforeMove func(ctx context.Context, c archive.Cursor)

// openArchive builds the archive sweeper when the settings name the
// archive account (connection string, or account URL with the managed
// identity); nil when they name none.
func openArchive(s config.Settings, store state.Store, proc archive.Processor, log zerolog.Logger) (*archive.Sweeper, error) {
	if !s.ArchiveConfigured() {
		return nil, nil
	}
	var blobs *archive.Blobs
	if conn := strings.TrimSpace(s.ArchiveConnectionString); conn != "" {
		if strings.EqualFold(conn, "UseDevelopmentStorage=true") {
			conn = azuriteBlobConnection
		}
		b, err := archive.NewBlobsFromConnectionString(conn)
		if err != nil {
			return nil, fmt.Errorf("AZDETECT_ARCHIVE_CONNECTION_STRING: not a usable Blob Storage connection string (value not shown)")
		}
		blobs = b
	} else {
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("archive storage credential: %w", err)
		}
		if blobs, err = archive.NewBlobs(strings.TrimSpace(s.ArchiveAccountURL), cred); err != nil {
			return nil, err
		}
	}
	return archive.New(archive.Options{
		Blobs: blobs, Store: store, Processor: proc,
		Follow: s.ArchiveFollow, Lease: s.ArchiveLease, List: s.ArchiveListContainers,
		Logger:     log.With().Str("component", "archive").Logger(),
		BeforeMove: archiveBeforeMove,
	})
}

// archiveProcessor is the pipeline with the archive behind the blob
// function: a blob of the archive account is registered and read with range
// reads from its cursor (the base64 body is not used); any other blob (a
// local replay, another account) is evaluated from the body.
type archiveProcessor struct {
	*pipeline.Pipeline
	archive *archive.Sweeper
}

// ProcessBlob implements invoke.BlobProcessor.
func (p archiveProcessor) ProcessBlob(ctx context.Context, blob invoke.Blob, binding string) (pipeline.Report, error) {
	if blob.URI == "" || !p.archive.Owns(blob.URI) {
		zerolog.Ctx(ctx).Debug().Str("blob", blob.Origin(binding)).Msg("blob not in the archive account: evaluating the body the host sent")
		return p.Process(ctx, blob.Inputs(binding))
	}
	res, err := p.archive.Register(ctx, blob.URI)
	zerolog.Ctx(ctx).Info().Str("blob", blob.URI).Msg(res.Summary())
	return res.Report, err
}

var _ invoke.BlobProcessor = archiveProcessor{}
