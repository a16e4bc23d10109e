package invoke

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/azdetect/azdetect/internal/pipeline"
)

// Blob trigger metadata keys (reference/functions-contract.md §2.2).
const (
	metaURI        = "Uri"
	metaProperties = "Properties"
)

// Blob types as Azure.Storage.Blobs' BlobType enum names them.
const (
	BlobTypeBlock  = "BlockBlob"
	BlobTypePage   = "PageBlob"
	BlobTypeAppend = "AppendBlob"
)

// BlobType is a blob's type. The host may write the .NET enum as a number
// (0 block, 1 page, 2 append) or as its name; both decode to the name.
type BlobType string

// UnmarshalJSON implements json.Unmarshaler.
func (t *BlobType) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if n, err := strconv.Atoi(s); err == nil {
			*t = blobTypeOf(n)
			return nil
		}
		*t = BlobType(s)
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		if isNull(b) {
			return nil
		}
		return err
	}
	*t = blobTypeOf(n)
	return nil
}

func blobTypeOf(n int) BlobType {
	switch n {
	case 0:
		return BlobTypeBlock
	case 1:
		return BlobTypePage
	case 2:
		return BlobTypeAppend
	}
	return BlobType(strconv.Itoa(n))
}

// BlobProperties are the fields of .NET's BlobProperties azdetect reads.
type BlobProperties struct {
	ContentLength int64    `json:"ContentLength"`
	BlobType      BlobType `json:"BlobType"`
	LastModified  string   `json:"LastModified"`
}

// Blob is one blob trigger invocation: the whole blob and where it lives.
type Blob struct {
	URI        string // from Metadata.Uri; the blob's path is taken from it
	Properties BlobProperties
	Body       []byte
}

// DecodeBlob reads the blob of binding from a blob trigger request.
// Data.<binding> is always the whole blob as one base64 string.
func DecodeBlob(req Request, binding string) (Blob, error) {
	raw, ok := req.Binding(binding)
	if !ok {
		return Blob{}, badRequest(nil, "request has no Data.%s: the blob binding of this function", binding)
	}
	// Decode straight from the request's bytes: a blob can be hundreds of
	// MB, and base64 needs no JSON unescaping unless a serializer wrote \/.
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return Blob{}, badRequest(nil, "Data.%s is not a base64 JSON string", binding)
	}
	b64 := raw[1 : len(raw)-1]
	if bytes.IndexByte(b64, '\\') >= 0 {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return Blob{}, badRequest(err, "Data.%s is not a base64 JSON string", binding)
		}
		b64 = []byte(s)
	}
	body := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	n, err := base64.StdEncoding.Decode(body, b64)
	if err != nil {
		return Blob{}, badRequest(err, "Data.%s is not valid base64", binding)
	}
	blob := Blob{Body: body[:n]}
	if u, ok := req.Meta(metaURI); ok {
		s, err := DecodeString(u)
		if err != nil {
			return Blob{}, badRequest(err, "Metadata.%s is not a (double-encoded) string", metaURI)
		}
		blob.URI = s
	}
	if p, ok := req.Meta(metaProperties); ok {
		if err := DecodeValue(p, &blob.Properties); err != nil {
			return Blob{}, badRequest(err, "Metadata.%s is not the blob properties object", metaProperties)
		}
	}
	return blob, nil
}

// Container and Name split the URI's path into the container and the blob
// name ("insights-activity-logs", "resourceId=/SUBSCRIPTIONS/.../PT1H.json").
func (b Blob) Container() string { c, _ := b.split(); return c }

// Name is the blob's name within its container; see Container.
func (b Blob) Name() string { _, n := b.split(); return n }

func (b Blob) split() (container, name string) {
	u, err := url.Parse(b.URI)
	if err != nil {
		return "", ""
	}
	p := strings.TrimPrefix(u.Path, "/")
	container, name, _ = strings.Cut(p, "/")
	return container, name
}

// Origin names the blob for reports and dead letters: its URI, or
// "blob://<binding>" when the host sent none.
func (b Blob) Origin(binding string) string {
	if b.URI != "" {
		return b.URI
	}
	return "blob://" + binding
}

// Inputs returns the blob as one pipeline input.
func (b Blob) Inputs(binding string) []pipeline.Input {
	return []pipeline.Input{{Origin: b.Origin(binding), Body: bytes.NewReader(b.Body)}}
}

var _ json.Unmarshaler = (*BlobType)(nil)
