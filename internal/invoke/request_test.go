package invoke

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/azdetect/azdetect/internal/pipeline"
)

func readInvocation(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "invocations", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode(t *testing.T, body string) Request {
	t.Helper()
	req, err := DecodeRequest(strings.NewReader(body))
	if err != nil {
		t.Fatalf("DecodeRequest: %v", err)
	}
	return req
}

// The three example requests of reference/functions-contract.md, verbatim.
func TestDecodeContractEventHub(t *testing.T) {
	req, err := DecodeRequest(bytes.NewReader(readInvocation(t, "eventhub.json")))
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Sys().MethodName; got != "ingest-eventhub" {
		t.Errorf("sys.MethodName = %q", got)
	}
	batch, err := DecodeEventHub(req, "events", DataTypeString)
	if err != nil {
		t.Fatal(err)
	}
	wantPC := PartitionContext{"contoso-logs.servicebus.windows.net", "azure-logs", "azdetect", "3"}
	if batch.Partition != wantPC {
		t.Errorf("partition = %+v, want %+v", batch.Partition, wantPC)
	}
	if len(batch.Events) != 1 {
		t.Fatalf("%d events, want 1", len(batch.Events))
	}
	ev := batch.Events[0]
	wantBody := `{"records":[{"time":"2026-11-20T09:00:00.1230000Z","category":"Administrative","operationName":"MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE"}]}`
	if string(ev.Body) != wantBody {
		t.Errorf("body = %s\nwant   %s", ev.Body, wantBody)
	}
	if ev.SequenceNumber != 88121 || ev.Offset != "4410231" || ev.PartitionKey != "" {
		t.Errorf("event = seq %d offset %q key %q", ev.SequenceNumber, ev.Offset, ev.PartitionKey)
	}
	if want := time.Date(2026, 11, 20, 9, 0, 2, 500_000_000, time.UTC); !ev.EnqueuedTime.Equal(want) {
		t.Errorf("enqueued = %v, want %v", ev.EnqueuedTime, want)
	}
	in := batch.Inputs()
	if len(in) != 1 || in[0].Origin != "eventhub://contoso-logs.servicebus.windows.net/azure-logs/3/88121" {
		t.Fatalf("inputs = %+v", in)
	}
	if b, _ := io.ReadAll(in[0].Body); string(b) != wantBody {
		t.Errorf("input body = %s", b)
	}
	// The records' position: the partition is the writer, the sequence
	// number orders its events (stateful rules count each record once).
	if in[0].Writer != "eventhub://contoso-logs.servicebus.windows.net/azure-logs/3" || in[0].Seq != 88121 {
		t.Errorf("input position = %q %d", in[0].Writer, in[0].Seq)
	}
	batch.Events[0].SequenceNumber = -1
	if in := batch.Inputs(); in[0].Writer != pipeline.NoPosition {
		t.Errorf("an event without a sequence number has position %q", in[0].Writer)
	}
}

func TestDecodeContractBlob(t *testing.T) {
	req, err := DecodeRequest(bytes.NewReader(readInvocation(t, "blob.json")))
	if err != nil {
		t.Fatal(err)
	}
	blob, err := DecodeBlob(req, "blob")
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\"time\":\"2026-11-20T09:12:44Z\",\"category\":\"Administrative\"}\n"; string(blob.Body) != want {
		t.Errorf("body = %q, want %q", blob.Body, want)
	}
	if int64(len(blob.Body)) != blob.Properties.ContentLength {
		t.Errorf("body is %d bytes, ContentLength %d", len(blob.Body), blob.Properties.ContentLength)
	}
	if blob.Properties.BlobType != BlobTypeAppend {
		t.Errorf("blob type = %q", blob.Properties.BlobType)
	}
	wantURI := "https://contosoarchive.blob.core.windows.net/insights-activity-logs/resourceId=/SUBSCRIPTIONS/0F8C1D2E-0000-4000-8000-000000000001/y=2026/m=11/d=20/h=09/m=00/PT1H.json"
	if blob.URI != wantURI {
		t.Errorf("uri = %q", blob.URI)
	}
	if blob.Container() != "insights-activity-logs" ||
		blob.Name() != "resourceId=/SUBSCRIPTIONS/0F8C1D2E-0000-4000-8000-000000000001/y=2026/m=11/d=20/h=09/m=00/PT1H.json" {
		t.Errorf("container %q name %q", blob.Container(), blob.Name())
	}
	if in := blob.Inputs("blob"); len(in) != 1 || in[0].Origin != wantURI {
		t.Errorf("inputs = %+v", in)
	}
}

func TestDecodeContractTimer(t *testing.T) {
	req, err := DecodeRequest(bytes.NewReader(readInvocation(t, "timer.json")))
	if err != nil {
		t.Fatal(err)
	}
	ti, err := DecodeTimer(req, "timer")
	if err != nil {
		t.Fatal(err)
	}
	if ti.IsPastDue || !ti.AdjustForDST || ti.ScheduleStatus == nil {
		t.Fatalf("timer = %+v", ti)
	}
	st := ti.ScheduleStatus
	if !st.Last.Equal(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)) ||
		!st.Next.Equal(time.Date(2026, 11, 20, 9, 5, 0, 0, time.UTC)) ||
		!st.LastUpdated.Equal(time.Date(2026, 11, 20, 9, 0, 0, 4_123_400, time.UTC)) {
		t.Errorf("schedule status = %+v", st)
	}
}

// The host double-encodes strings, numbers, booleans and arrays, and sends
// objects and base64 plain.
func TestDecodeValue(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		into    func() any
		want    any
		wantErr bool
	}{
		{"double-encoded string", `"\"abc\""`, newOf[string], "abc", false},
		{"single-encoded string", `"abc"`, newOf[string], "abc", false},
		{"double-encoded uri", `"\"https://a.blob.core.windows.net/c/x=1/PT1H.json\""`, newOf[string], "https://a.blob.core.windows.net/c/x=1/PT1H.json", false},
		{"string holding quotes", `"\"\\\"quoted\\\"\""`, newOf[string], `"quoted"`, false},
		{"string holding JSON text", `"\"{\\\"records\\\":[]}\""`, newOf[string], `{"records":[]}`, false},
		{"number as text", `"88121"`, newOf[string], "88121", false},
		{"number", `"88121"`, newOf[int64], int64(88121), false},
		{"bool", `"true"`, newOf[bool], true, false},
		{"array", `"[88121,88122]"`, newOf[[]int64], []int64{88121, 88122}, false},
		{"array single-encoded", `[1,2]`, newOf[[]int64], []int64{1, 2}, false},
		{"array of body strings", `"[\"{\\\"records\\\":[]}\",\"x\"]"`, newOf[[]string], []string{`{"records":[]}`, "x"}, false},
		{"array of nulls", `"[null,\"k\"]"`, newOf[[]*string], []*string{nil, ptr("k")}, false},
		{"object", `{"PartitionId":"3"}`, newOf[PartitionContext], PartitionContext{PartitionID: "3"}, false},
		{"object double-encoded", `"{\"PartitionId\":\"3\"}"`, newOf[PartitionContext], PartitionContext{PartitionID: "3"}, false},
		{"broken array", `"[1,2"`, newOf[[]int64], nil, true},
		{"string into array", `"\"abc\""`, newOf[[]int64], nil, true},
		{"empty", ``, newOf[string], nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.into()
			err := DecodeValue(json.RawMessage(tc.raw), v)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("no error, got %#v", reflect.ValueOf(v).Elem().Interface())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := reflect.ValueOf(v).Elem().Interface(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func newOf[T any]() any { return new(T) }

func ptr[T any](v T) *T { return &v }

func TestDecodeEventHubBodies(t *testing.T) {
	rec := `{"records":[{"category":"Administrative","note":"a \"quoted\" word"}]}`
	b64 := base64.StdEncoding.EncodeToString([]byte(rec))
	strArray := jsonText([]string{rec, "not json at all"})
	tests := []struct {
		name     string
		data     string // the value of Data.events, as sent
		meta     string
		dataType string
		want     []string
		origins  []string
		wantErr  string
	}{
		{
			name: "dataType string", dataType: DataTypeString,
			data: jsonText(strArray), meta: `"SequenceNumberArray":"[7,8]"`,
			want: []string{rec, "not json at all"}, origins: []string{"eventhub://-/-/-/7", "eventhub://-/-/-/8"},
		},
		{
			name: "dataType binary", dataType: DataTypeBinary,
			data: jsonText(jsonText([]string{b64})),
			want: []string{rec}, origins: []string{"eventhub://-/-/-/#0"},
		},
		{
			name: "dataType binary, bad base64", dataType: DataTypeBinary,
			data: jsonText(jsonText([]string{"!!not base64"})), wantErr: "not base64",
		},
		{
			name: "no dataType: objects", data: jsonText("[" + rec + "]"),
			want: []string{rec},
		},
		{
			name: "no dataType: base64 strings", data: jsonText(jsonText([]string{b64})),
			want: []string{rec},
		},
		{
			name: "array sent single-encoded", dataType: DataTypeString, data: strArray,
			want: []string{rec, "not json at all"},
		},
		{
			name: "empty batch", dataType: DataTypeString, data: `"[]"`, meta: `"SequenceNumberArray":"[]"`,
			want: []string{},
		},
		{
			name: "sequence numbers from system properties", dataType: DataTypeString,
			data: jsonText(jsonText([]string{rec})), meta: `"SystemPropertiesArray":"[{\"SequenceNumber\":42,\"OffsetString\":\"99\"}]"`,
			want: []string{rec}, origins: []string{"eventhub://-/-/-/42"},
		},
		{
			name: "partition context", dataType: DataTypeString, data: jsonText(jsonText([]string{rec})),
			meta: `"TriggerPartitionContext":{"FullyQualifiedNamespace":"ns","EventHubName":"hub","ConsumerGroup":"cg","PartitionId":"11"},"SequenceNumberArray":"[5]"`,
			want: []string{rec}, origins: []string{"eventhub://ns/hub/11/5"},
		},
		{
			name: "array lengths differ", dataType: DataTypeString, data: jsonText(strArray),
			meta: `"SequenceNumberArray":"[7]"`, wantErr: "has 1 entries for 2 events",
		},
		{
			name: "not an array", dataType: DataTypeString, data: `"\"{}\""`, wantErr: "not a JSON array",
		},
		{
			name: "bad enqueued time", dataType: DataTypeString, data: jsonText(jsonText([]string{rec})),
			meta: `"EnqueuedTimeUtcArray":"[\"yesterday\"]"`, wantErr: "EnqueuedTimeUtcArray[0]",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"Data":{"events":` + tc.data + `},"Metadata":{` + tc.meta + `}}`
			req := decode(t, body)
			batch, err := DecodeEventHub(req, "events", tc.dataType)
			if tc.wantErr != "" {
				var bad *BadRequestError
				if !errors.As(err, &bad) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want a BadRequestError with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, ev := range batch.Events {
				got = append(got, string(ev.Body))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("bodies = %q\nwant     %q", got, tc.want)
			}
			for i, want := range tc.origins {
				if o := batch.Origin(i); o != want {
					t.Errorf("origin %d = %q, want %q", i, o, want)
				}
			}
		})
	}
}

func TestDecodeRequestRefuses(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"empty", "", "empty"},
		{"not JSON", "hello", "not the host's"},
		{"array", `[{"Data":{}}]`, "not the host's"},
		{"no Data", `{"Metadata":{}}`, "no Data object"},
		{"Data not an object", `{"Data":"x"}`, "not the host's"},
		{"two values", `{"Data":{}} {"Data":{}}`, "not the host's"},
		{"blank", " \r\n", "empty"},
		{"truncated", `{"Data":{"events":"[`, "not the host's"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRequest(strings.NewReader(tc.body))
			var bad *BadRequestError
			if !errors.As(err, &bad) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a BadRequestError with %q", err, tc.want)
			}
		})
	}
}

func TestDecodeBlobRefuses(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"bad base64", `{"Data":{"blob":"not base64!"}}`, "not valid base64"},
		{"no binding", `{"Data":{"other":"eA=="}}`, "no Data.blob"},
		{"object", `{"Data":{"blob":{}}}`, "not a base64 JSON string"},
		{"escaped junk", `{"Data":{"blob":"eA\\u00"}}`, "not valid base64"},
		{"bad uri", `{"Data":{"blob":"eA=="},"Metadata":{"Uri":{"a":1}}}`, "Metadata.Uri"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeBlob(decode(t, tc.body), "blob")
			var bad *BadRequestError
			if !errors.As(err, &bad) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a BadRequestError with %q", err, tc.want)
			}
		})
	}
}

// A serializer may escape '/' as \/ in base64 text.
func TestDecodeBlobEscapedSlash(t *testing.T) {
	blob, err := DecodeBlob(decode(t, `{"Data":{"blob":"\/\/\/\/eA=="}}`), "blob")
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0xff, 0xff, 0xff, 'x'}; !bytes.Equal(blob.Body, want) {
		t.Errorf("body = %x, want %x", blob.Body, want)
	}
}

func TestBlobTypeShapes(t *testing.T) {
	for raw, want := range map[string]BlobType{
		`0`: BlobTypeBlock, `1`: BlobTypePage, `2`: BlobTypeAppend, `"AppendBlob"`: BlobTypeAppend, `"2"`: BlobTypeAppend, `null`: "",
	} {
		var p BlobProperties
		if err := json.Unmarshal([]byte(`{"BlobType":`+raw+`}`), &p); err != nil || p.BlobType != want {
			t.Errorf("BlobType %s = %q (%v), want %q", raw, p.BlobType, err, want)
		}
	}
}

// FuzzDecodeRequest feeds arbitrary bodies through every decoder: none may
// panic, and a decoded batch gives one input per event.
func FuzzDecodeRequest(f *testing.F) {
	for _, name := range []string{"eventhub.json", "blob.json", "timer.json"} {
		f.Add(readInvocation(f, name))
	}
	f.Add([]byte(`{"Data":{"events":"[{\"records\":[]}]"},"Metadata":{"SequenceNumberArray":"[1]","OffsetArray":"[-1]"}}`))
	f.Add([]byte(`{"Data":{"events":"[\"eyJyZWNvcmRzIjpbXX0=\"]"},"Metadata":{"SystemPropertiesArray":"[{\"SequenceNumber\":1}]"}}`))
	f.Add([]byte(`{"data":{"EVENTS":[]},"metadata":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeRequest(bytes.NewReader(body))
		if err != nil {
			return
		}
		for _, dt := range []string{DataTypeString, DataTypeBinary, ""} {
			batch, err := DecodeEventHub(req, "events", dt)
			if err != nil {
				continue
			}
			if in := batch.Inputs(); len(in) != len(batch.Events) {
				t.Fatalf("%d inputs for %d events", len(in), len(batch.Events))
			}
		}
		if blob, err := DecodeBlob(req, "blob"); err == nil {
			_ = blob.Inputs("blob")
			_, _ = blob.Container(), blob.Name()
		}
		_, _ = DecodeTimer(req, "timer")
		_ = req.Sys()
		_, _ = req.RetryContext()
	})
}

// TestParseHostTime: the host's times with and without a zone (a .NET
// DateTime is UTC); a zone is never lost by trying the zoneless layouts
// first.
func TestParseHostTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"2026-11-20T09:00:02.5", time.Date(2026, 11, 20, 9, 0, 2, 5e8, time.UTC)},
		{"2026-11-20 09:00:02", time.Date(2026, 11, 20, 9, 0, 2, 0, time.UTC)},
		{"2026-11-20T09:00:02.1234567Z", time.Date(2026, 11, 20, 9, 0, 2, 123456700, time.UTC)},
		{"2026-11-20T10:00:02+01:00", time.Date(2026, 11, 20, 9, 0, 2, 0, time.UTC)},
		{"2026-11-20T04:00:02.5-05:00", time.Date(2026, 11, 20, 9, 0, 2, 5e8, time.UTC)},
		{" 2026-11-20T09:00:02Z ", time.Date(2026, 11, 20, 9, 0, 2, 0, time.UTC)},
	} {
		got, err := ParseHostTime(tc.in)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseHostTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-11-20T09:00:02+0x:00", "2026-13-20T09:00:02"} {
		if _, err := ParseHostTime(bad); err == nil {
			t.Errorf("ParseHostTime(%q) took it", bad)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseHostTime("2026-11-20T09:00:02.5") }); n != 0 {
		t.Errorf("an enqueued time costs %.0f allocations, want none", n)
	}
}

// TestScalarText: offsets as encoding/json reads them, the plain ones
// without it.
func TestScalarText(t *testing.T) {
	for in, want := range map[string]string{
		`"4410231"`:   "4410231",
		` "-1" `:      "-1",
		`4410231`:     "4410231",
		`null`:        "",
		`"a\"b"`:      `a"b`,
		`"caf\u00e9"`: "café",
		`""`:          "",
		"\"a\tb\"":    "\"a\tb\"", // a raw control character: not a JSON string, kept as sent
	} {
		if got := scalarText(json.RawMessage(in)); got != want {
			t.Errorf("scalarText(%s) = %q, want %q", in, got, want)
		}
	}
}

// parseDotNetUTC takes what time.Parse takes with the host's .NET layout,
// to the same time, and ParseHostTime with it gives what it gave without:
// the same time or an error, for times of every field value (out of range,
// leap days, fractions of 0 to 12 digits) and odd bytes anywhere.
func TestParseDotNetUTCAgrees(t *testing.T) {
	slow := func(s string) (time.Time, error) { // ParseHostTime without parseDotNetUTC
		return parseHostTimeLayouts(strings.TrimSpace(s))
	}
	r := rand.New(rand.NewPCG(3, 12))
	digits := func(n, max int) string { return fmt.Sprintf("%0*d", n, r.IntN(max)) }
	taken := 0
	for range 20000 {
		s := digits(4, 10000) + "-" + digits(2, 14) + "-" + digits(2, 33) + "T" + digits(2, 26) + ":" + digits(2, 62) + ":" + digits(2, 62)
		if r.IntN(4) > 0 {
			s += "." + digits(r.IntN(13), 1e12)
		}
		switch r.IntN(8) {
		case 0: // a byte changed anywhere
			b := []byte(s)
			b[r.IntN(len(b))] = "0Z+-. T,:x9\xff"[r.IntN(12)]
			s = string(b)
		case 1:
			s = []string{"2024-02-29T00:00:00", "2023-02-29T00:00:00", "1900-02-29T12:00:00", "2000-02-29T23:59:59.999999999",
				"2024-02-30T00:00:00", "2026-04-31T00:00:00", "2026-12-31T24:00:00", "0000-01-01T00:00:00",
				"2026-11-20T09:00:02.", "2026-11-20T09:00:02Z", " 2026-11-20T09:00:02.5 "}[r.IntN(11)]
		}
		want, werr := slow(s)
		got, err := ParseHostTime(s)
		if (err != nil) != (werr != nil) || !got.Equal(want) || got.Location() != want.Location() {
			t.Fatalf("ParseHostTime(%q) = %v, %v; before %v, %v", s, got, err, want, werr)
		}
		if fast, ok := parseDotNetUTC(s); ok {
			taken++
			if ref, err := time.Parse(hostTimeLayouts[1], s); err != nil || fast != ref {
				t.Fatalf("parseDotNetUTC(%q) = %v; time.Parse %v, %v", s, fast, ref, err)
			}
		}
	}
	if taken < 2000 {
		t.Errorf("parseDotNetUTC took %d of the times; the test makes it take more", taken)
	}
}
