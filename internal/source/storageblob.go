package source

import (
	"reflect"
	"strings"

	"github.com/azdetect/azdetect/internal/event"
)

// storageBlobSource is the Storage resource logs (log-schemas §12):
// StorageBlobLogs and its File, Queue and Table siblings, one record per
// request, recognised by a service sub-resource id.
var storageBlobSource = Source{
	Name:        "storagelogs",
	Description: "Azure Storage resource logs (StorageBlobLogs, StorageFileLogs, StorageQueueLogs, StorageTableLogs): data-plane requests",
	Reference:   "https://learn.microsoft.com/azure/storage/blobs/monitor-blob-storage-reference",
	Categories:  []string{"StorageRead", "StorageWrite", "StorageDelete"},
	Recognise:   func(c Candidate) bool { return isStorageServiceID(c.ResourceID) },
	Parse:       parseStorageBlob,
	Extras:      9,
}

// isStorageServiceID tells .../storageAccounts/<a>/blobServices/default (or
// file, queue, table services).
//
// It is containsFold(id, "/blobservices/") || ... for the four services,
// one segment at a time: a match lies between two consecutive slashes, so
// only the segments of the services' lengths (12, 13) are compared.
func isStorageServiceID(id string) bool {
	i := strings.IndexByte(id, '/')
	if i < 0 {
		return false
	}
	for {
		// id[i] is a '/': the segment runs to the next one.
		k := strings.IndexByte(id[i+1:], '/')
		if k < 0 {
			return false
		}
		if seg := id[i+1 : i+1+k]; len(seg) == 12 || len(seg) == 13 {
			for _, svc := range [...]string{"blobservices", "fileservices", "queueservices", "tableservices"} {
				if event.EqualFoldASCII(seg, svc) {
					return true
				}
			}
		}
		i += 1 + k
	}
}

type storageBlobRecord struct {
	envelope
	StatusCode text                      `json:"statusCode"`
	StatusText text                      `json:"statusText"`
	Identity   embedded[storageIdentity] `json:"identity"`
	Properties embedded[struct {
		AccountName      text `json:"accountName"`
		ObjectKey        text `json:"objectKey"`
		ServiceType      text `json:"serviceType"`
		UserAgentHeader  text `json:"userAgentHeader"`
		RequestBodySize  text `json:"requestBodySize"`
		ResponseBodySize text `json:"responseBodySize"`
	}] `json:"properties"`
}

type storageIdentity struct {
	Type      text `json:"type"`
	TokenHash text `json:"tokenHash"`
	Requester struct {
		ObjectID text `json:"objectId"`
		UPN      text `json:"upn"`
		AppID    text `json:"appId"`
		TenantID text `json:"tenantId"`
	} `json:"requester"`
}

var storageBlobPlan = planOf(reflect.TypeFor[storageBlobRecord]())

// storageBlobRecords are reused from record to record (see pooled).
var storageBlobRecords pooled[storageBlobRecord]

func parseStorageBlob(raw []byte, ev *event.Event) error {
	r := storageBlobRecords.get()
	defer storageBlobRecords.put(r)
	if err := decodeEvent(raw, ev, storageBlobPlan, r); err != nil {
		return err
	}
	if err := r.fill(ev); err != nil {
		return err
	}
	id, p := &r.Identity.V, &r.Properties.V
	status := r.StatusText.String()
	ev.ResultCode = r.StatusCode.String()
	ev.Result = storageResult(status, ev.ResultCode)
	if ev.Result == event.ResultFailure {
		ev.ResultReason = first(r.StatusText, r.ResultDescription)
	}
	ev.Target = p.ObjectKey.String()
	ev.Geo.Region = r.Location.String()
	if ev.TenantID == "" {
		ev.TenantID = id.Requester.TenantID.String()
	}
	ev.Actor = event.Actor{
		UPN:       id.Requester.UPN.String(),
		ObjectID:  id.Requester.ObjectID.String(),
		AppID:     id.Requester.AppID.String(),
		IP:        stripPort(r.CallerIPAddress.String()),
		UserAgent: p.UserAgentHeader.String(),
	}
	ev.Actor.Type = storageActorType(&ev.Actor)
	oauth := ev.Actor.UPN != "" || ev.Actor.ObjectID != "" || ev.Actor.AppID != ""

	ev.SetAll(
		"storage.auth_type", storageAuthType(id.Type.String(), oauth),
		"storage.token_hash", id.TokenHash.String(),
		"storage.status", status,
		"storage.service", lowerAs(p.ServiceType.String(), "blob", "file", "queue", "table"),
		"storage.account", p.AccountName.String(),
		"storage.object_key", p.ObjectKey.String(),
		"storage.request_bytes", p.RequestBodySize.String(),
		"storage.response_bytes", p.ResponseBodySize.String(),
		"storage.user_agent", p.UserAgentHeader.String(),
	)
	return nil
}
