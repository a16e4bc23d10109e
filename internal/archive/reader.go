package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
)

// Blob types as the Blob service names them.
const (
	TypeAppend = "AppendBlob"
	TypeBlock  = "BlockBlob"
)

// Blobs reads the archive storage account with range reads: properties,
// committed block lists and byte ranges, never a whole blob at once.
type Blobs struct {
	svc  *service.Client
	base *url.URL // the service URL, ending in '/'
}

// NewBlobs opens the Blob service at serviceURL
// (https://ACCOUNT.blob.core.windows.net/) with a token credential: the
// function app's managed identity, which needs Storage Blob Data Reader.
func NewBlobs(serviceURL string, cred azcore.TokenCredential) (*Blobs, error) {
	svc, err := service.NewClient(serviceURL, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("archive: blob service %s: %w", serviceURL, err)
	}
	return newBlobs(svc)
}

// NewBlobsFromConnectionString opens the Blob service of a connection
// string with an account key (Azurite's included).
func NewBlobsFromConnectionString(conn string) (*Blobs, error) {
	svc, err := service.NewClientFromConnectionString(conn, nil)
	if err != nil {
		// The SDK's message does not repeat the string, which holds a key.
		return nil, fmt.Errorf("archive: blob connection string: %w", err)
	}
	return newBlobs(svc)
}

func newBlobs(svc *service.Client) (*Blobs, error) {
	u, err := url.Parse(svc.URL())
	if err != nil {
		return nil, fmt.Errorf("archive: blob service URL: %w", err)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return &Blobs{svc: svc, base: u}, nil
}

// Locate splits a blob URI of this account into container and blob name;
// ok is false for a blob of another account (or not a blob URI).
func (b *Blobs) Locate(uri string) (container, name string, ok bool) {
	u, err := url.Parse(uri)
	if err != nil || !strings.EqualFold(u.Host, b.base.Host) || !strings.EqualFold(u.Scheme, b.base.Scheme) {
		return "", "", false
	}
	rest, found := strings.CutPrefix(u.Path, b.base.Path)
	if !found {
		return "", "", false
	}
	container, name, _ = strings.Cut(rest, "/")
	if container == "" || name == "" {
		return "", "", false
	}
	return container, name, true
}

// Props are the properties of a blob the sweep reads.
type Props struct {
	Type    string // TypeAppend, TypeBlock (page blobs are not logs)
	Size    int64
	ETag    string
	Created time.Time
}

// errGone is a blob (or its container) that no longer exists.
var errGone = errors.New("blob not found")

// errChanged is a block blob committed again between two reads.
var errChanged = errors.New("blob changed while read")

func (b *Blobs) client(container, name string) *blob.Client {
	return b.svc.NewContainerClient(container).NewBlobClient(name)
}

func (b *Blobs) props(ctx context.Context, container, name string) (Props, error) {
	r, err := b.client(container, name).GetProperties(ctx, nil)
	if err != nil {
		return Props{}, blobErr(err, "properties of %s/%s", container, name)
	}
	p := Props{}
	if r.BlobType != nil {
		p.Type = string(*r.BlobType)
	}
	if r.ContentLength != nil {
		p.Size = *r.ContentLength
	}
	if r.ETag != nil {
		p.ETag = string(*r.ETag)
	}
	if r.CreationTime != nil {
		p.Created = *r.CreationTime
	}
	return p, nil
}

// block is one committed block: its id and size.
type block struct {
	Name string
	Size int64
}

// blocks lists the committed blocks of a block blob and the ETag of that
// list.
func (b *Blobs) blocks(ctx context.Context, container, name string) ([]block, string, error) {
	bb := b.svc.NewContainerClient(container).NewBlockBlobClient(name)
	r, err := bb.GetBlockList(ctx, blockblob.BlockListTypeCommitted, nil)
	if err != nil {
		return nil, "", blobErr(err, "block list of %s/%s", container, name)
	}
	out := make([]block, 0, len(r.CommittedBlocks))
	for _, blk := range r.CommittedBlocks {
		if blk == nil || blk.Size == nil {
			continue
		}
		var id string
		if blk.Name != nil {
			id = *blk.Name
		}
		out = append(out, block{Name: id, Size: *blk.Size})
	}
	etag := ""
	if r.ETag != nil {
		etag = string(*r.ETag)
	}
	// A blob written whole by Put Blob (an upload, a copy) has content but
	// no committed blocks: read it as one block named after its ETag, so
	// that a later overwrite counts as a rewrite and is read again.
	if len(out) == 0 && r.BlobContentLength != nil && *r.BlobContentLength > 0 {
		out = append(out, block{Name: "put-blob " + etag, Size: *r.BlobContentLength})
	}
	return out, etag, nil
}

// read opens the byte range [off, off+count) of a blob as a stream. With
// ifMatch set, a blob changed since (a new block list) fails with
// errChanged.
func (b *Blobs) read(ctx context.Context, container, name string, off, count int64, ifMatch string) (io.ReadCloser, error) {
	o := &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: off, Count: count}}
	if ifMatch != "" {
		etag := azcore.ETag(ifMatch)
		o.AccessConditions = &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &etag}}
	}
	r, err := b.client(container, name).DownloadStream(ctx, o)
	if err != nil {
		return nil, blobErr(err, "read %s/%s bytes %d-%d", container, name, off, off+count-1)
	}
	return r.Body, nil
}

// blobErr sorts SDK errors by their code: a missing blob or a failed
// precondition are states of the archive; anything else is a dependency
// failure, wrapped.
func blobErr(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	switch {
	case bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound, bloberror.ResourceNotFound):
		return fmt.Errorf("%s: %w", what, errGone)
	case bloberror.HasCode(err, bloberror.ConditionNotMet):
		return fmt.Errorf("%s: %w", what, errChanged)
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == 404 {
		return fmt.Errorf("%s: %w", what, errGone)
	}
	if errors.As(err, &re) && re.StatusCode == 412 {
		return fmt.Errorf("%s: %w", what, errChanged)
	}
	return fmt.Errorf("archive: %s: %w", what, err)
}

// URI is the canonical URI of a blob of this account, as Event Grid and
// the Functions host write it: the service URL, the container and the
// blob name with its '/' kept ("resourceId=/SUBSCRIPTIONS/..."). Cursors
// of listed blobs are keyed by it.
func (b *Blobs) URI(container, name string) string {
	u := *b.base
	u.Path = b.base.Path + container + "/" + name
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	return u.String()
}

// listed is one blob of a container listing.
type listed struct {
	Name    string
	Type    string
	Created time.Time
}

// list lists the blobs of a container whose names begin with prefix. A
// missing container is errGone.
func (b *Blobs) list(ctx context.Context, ctr, prefix string) ([]listed, error) {
	cc := b.svc.NewContainerClient(ctr)
	var opts container.ListBlobsFlatOptions
	if prefix != "" {
		opts.Prefix = &prefix
	}
	pager := cc.NewListBlobsFlatPager(&opts)
	var out []listed
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return out, blobErr(err, "list %s/%s", ctr, prefix)
		}
		for _, it := range page.Segment.BlobItems {
			if it == nil || it.Name == nil {
				continue
			}
			l := listed{Name: *it.Name}
			if p := it.Properties; p != nil {
				if p.BlobType != nil {
					l.Type = string(*p.BlobType)
				}
				if p.CreationTime != nil {
					l.Created = *p.CreationTime
				} else if p.LastModified != nil {
					l.Created = *p.LastModified
				}
			}
			out = append(out, l)
		}
	}
	return out, nil
}

// prefixes lists the first-level "folders" of a container (blob/, queue/,
// table/ in $logs). A missing container is errGone.
func (b *Blobs) prefixes(ctx context.Context, container string) ([]string, error) {
	pager := b.svc.NewContainerClient(container).NewListBlobsHierarchyPager("/", nil)
	var out []string
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return out, blobErr(err, "list %s", container)
		}
		for _, p := range page.Segment.BlobPrefixes {
			if p != nil && p.Name != nil {
				out = append(out, *p.Name)
			}
		}
	}
	return out, nil
}
