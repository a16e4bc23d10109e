package source

import (
	"net/url"
	"reflect"
	"slices"
	"strings"
	"unsafe"

	"github.com/azdetect/azdetect/internal/event"
)

// keyVaultSource is the Key Vault AuditEvent log (log-schemas §13): data-
// plane and vault-management calls made to a vault or managed HSM. Other
// services write AuditEvent too; Key Vault's carry a MICROSOFT.KEYVAULT id.
var keyVaultSource = Source{
	Name:        "keyvault",
	Description: "Azure Key Vault audit log (AuditEvent): secret, key and certificate access, vault and access-policy changes",
	Reference:   "https://learn.microsoft.com/azure/key-vault/general/logging",
	Categories:  []string{"AuditEvent"},
	Recognise:   func(c Candidate) bool { return containsFold(c.ResourceID, "/providers/microsoft.keyvault/") },
	Parse:       parseKeyVault,
	Extras:      11,
}

type keyVaultRecord struct {
	envelope
	DurationMs text `json:"durationMs"`
	Identity   embedded[struct {
		Claim embedded[keyVaultClaims] `json:"claim"`
	}] `json:"identity"`
	Properties embedded[keyVaultProperties] `json:"properties"`
}

// keyVaultClaims is identity.claim (singular): URI keys in older records,
// short token claim names in newer ones.
type keyVaultClaims struct {
	ObjectIDURI text `json:"http://schemas.microsoft.com/identity/claims/objectidentifier"`
	UPNURI      text `json:"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"`
	NameURI     text `json:"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"`
	TenantIDURI text `json:"http://schemas.microsoft.com/identity/claims/tenantid"`
	OID         text `json:"oid"`
	UPN         text `json:"upn"`
	UniqueName  text `json:"unique_name"`
	Name        text `json:"name"`
	AppID       text `json:"appid"`
	AZP         text `json:"azp"`
	IDType      text `json:"idtyp"`
	MIRID       text `json:"xms_mirid"`
	IPAddr      text `json:"ipaddr"`
	TID         text `json:"tid"`
}

type keyVaultProperties struct {
	ID                  text                   `json:"id"`
	HTTPStatusCode      text                   `json:"httpStatusCode"`
	ClientInfo          text                   `json:"clientInfo"`
	IsAccessPolicyMatch text                   `json:"isAccessPolicyMatch"`
	IsRbacAuthorized    text                   `json:"isRbacAuthorized"`
	AddedAccessPolicy   embedded[accessPolicy] `json:"addedAccessPolicy"`
	RemovedAccessPolicy embedded[accessPolicy] `json:"removedAccessPolicy"`
}

// accessPolicy is an added or removed vault access policy entry.
type accessPolicy struct {
	ObjectID    text `json:"ObjectId"`
	TenantID    text `json:"TenantId"`
	Permissions struct {
		Keys         textList `json:"keys"`
		Secrets      textList `json:"secrets"`
		Certificates textList `json:"certificates"`
		Storage      textList `json:"storage"`
	} `json:"Permissions"`
}

// permissions renders the granted permissions as
// "certificates:get;keys:get,list;secrets:all", kinds sorted, empty kinds left out.
func (p *accessPolicy) permissions() string {
	kinds := []struct {
		name string
		list textList
	}{
		{"certificates", p.Permissions.Certificates}, {"keys", p.Permissions.Keys},
		{"secrets", p.Permissions.Secrets}, {"storage", p.Permissions.Storage},
	}
	var b strings.Builder
	for _, k := range kinds {
		if len(k.list) == 0 {
			continue
		}
		perms := append([]string(nil), k.list...)
		for i := range perms {
			perms[i] = strings.ToLower(perms[i])
		}
		slices.Sort(perms)
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(k.name + ":" + strings.Join(perms, ","))
	}
	return b.String()
}

// textList is an array of scalars, or one string; anything else is empty.
type textList []string

func (l *textList) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		var t text
		if err := t.UnmarshalJSON(b); err != nil {
			return err
		}
		if s := t.String(); s != "" {
			*l = textList{s}
		}
	case '[':
		return event.ArrayEach(b, func(el []byte) bool {
			var t text
			if el[0] != '{' && el[0] != '[' && t.UnmarshalJSON(el) == nil && t.String() != "" {
				*l = append(*l, t.String())
			}
			return true
		})
	}
	return nil
}

// keyVaultPlan decodes keyVaultRecord in one pass (decodeInto).
var keyVaultPlan = func() *plan {
	customDecoders[reflect.TypeFor[textList]()] = decodeTextList
	return planOf(reflect.TypeFor[keyVaultRecord]())
}()

// decodeTextList decodes the value at vi as textList.UnmarshalJSON does.
func decodeTextList(d *decoder, _ []byte, _ bool, vi int, p unsafe.Pointer) int {
	end := d.Skip(vi)
	if !d.Bad {
		_ = (*textList)(p).UnmarshalJSON(d.B[vi:end])
	}
	return end
}

// keyVaultRecords are reused from record to record (see pooled).
var keyVaultRecords pooled[keyVaultRecord]

func parseKeyVault(raw []byte, ev *event.Event) error {
	r := keyVaultRecords.get()
	defer keyVaultRecords.put(r)
	if err := decodeEvent(raw, ev, keyVaultPlan, r); err != nil {
		return err
	}
	if err := r.fill(ev); err != nil {
		return err
	}
	c, p := &r.Identity.V.Claim.V, &r.Properties.V
	status := p.HTTPStatusCode.String()
	// resultType says Success on most denied calls too: the HTTP status
	// is the result code that means something.
	ev.ResultCode = first(p.HTTPStatusCode, r.ResultSignature, r.ResultType)
	ev.Result = keyVaultResult(status, r.ResultType.String())
	if ev.Result == event.ResultFailure {
		ev.ResultReason = first(r.ResultDescription, r.ResultSignature, r.ResultType)
	}
	if ev.TenantID == "" {
		ev.TenantID = first(c.TID, c.TenantIDURI)
	}
	ev.Target = p.ID.String()
	ev.Geo.Region = r.Location.String()
	ev.Actor = keyVaultActor(c, r.CallerIPAddress, p.ClientInfo)

	added, removed := &p.AddedAccessPolicy.V, &p.RemovedAccessPolicy.V
	ev.SetAll(
		"keyvault.http_status", status,
		"keyvault.object_type", keyVaultObjectType(ev.Operation, p.ID.String()),
		"keyvault.object_name", keyVaultObjectName(p.ID.String()),
		"keyvault.result_signature", r.ResultSignature.String(),
		"keyvault.duration_ms", r.DurationMs.String(),
		"keyvault.access_policy_match", lowerAs(p.IsAccessPolicyMatch.String(), "true", "false"),
		"keyvault.rbac_authorized", lowerAs(p.IsRbacAuthorized.String(), "true", "false"),
		"keyvault.added_policy_object_id", added.ObjectID.String(),
		"keyvault.added_policy_permissions", added.permissions(),
		"keyvault.removed_policy_object_id", removed.ObjectID.String(),
		"keyvault.removed_policy_permissions", removed.permissions(),
	)
	return nil
}

// keyVaultResult: the HTTP status when written, else resultType (Success,
// or a failure word such as Unauthorized or Forbidden).
func keyVaultResult(httpStatus, resultType string) event.Result {
	if httpStatus != "" {
		if httpStatus[0] == '2' || httpStatus[0] == '3' {
			return event.ResultSuccess
		}
		return event.ResultFailure
	}
	var buf [40]byte
	switch string(lowerWord(&buf, resultType)) {
	case "":
		return event.ResultUnknown
	case "success", "succeeded", "ok":
		return event.ResultSuccess
	}
	return event.ResultFailure
}

// keyVaultActor reads the claims: UPN (URI, short, unique_name), object id,
// app id; the token type or a managed-identity path gives the type.
func keyVaultActor(c *keyVaultClaims, caller, clientInfo text) event.Actor {
	a := event.Actor{
		UPN:       first(c.UPNURI, c.UPN),
		Name:      first(c.NameURI, c.Name),
		ObjectID:  first(c.ObjectIDURI, c.OID),
		AppID:     first(c.AppID, c.AZP),
		IP:        callerIP(caller, c.IPAddr),
		UserAgent: clientInfo.String(),
	}
	if a.UPN == "" && strings.Contains(c.UniqueName.String(), "@") {
		a.UPN = c.UniqueName.String()
	}
	switch {
	case c.MIRID.String() != "":
		a.Type = event.ActorManagedIdentity
	case strings.EqualFold(c.IDType.String(), "user"), a.UPN != "":
		a.Type = event.ActorUser
	case strings.EqualFold(c.IDType.String(), "app"), a.AppID != "" || a.ObjectID != "":
		a.Type = event.ActorServicePrincipal
	}
	return a
}

// keyVaultObjectType: secret, key, certificate, storage (managed storage
// accounts) or vault, from the operation's prefix, else from the object URI.
func keyVaultObjectType(operation, id string) string {
	for _, k := range []struct{ prefix, kind string }{
		{"secret", "secret"}, {"key", "key"}, {"certificate", "certificate"},
		{"storage", "storage"}, {"vault", "vault"}, {"managedhsm", "vault"},
	} {
		if hasPrefixFold(operation, k.prefix) {
			return k.kind
		}
	}
	switch collection, _, _ := strings.Cut(objectPath(id), "/"); strings.ToLower(collection) {
	case "secrets":
		return "secret"
	case "keys":
		return "key"
	case "certificates":
		return "certificate"
	case "storage":
		return "storage"
	case "":
		if id != "" {
			return "vault"
		}
	}
	return ""
}

// keyVaultObjectName is the object's name in its URI
// (https://v.vault.azure.net/secrets/<name>/<version>).
func keyVaultObjectName(id string) string {
	_, rest, _ := strings.Cut(objectPath(id), "/")
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// objectPath is the path of an object URI without its leading slash.
func objectPath(id string) string {
	id = strings.TrimSpace(id)
	if p, ok := plainURLPath(id); ok {
		return strings.Trim(p, "/")
	}
	u, err := url.Parse(id)
	if err != nil {
		return ""
	}
	return strings.Trim(u.Path, "/")
}

// plainURLPath is url.Parse(id).Path without parsing, for the shape Key
// Vault writes (https://<vault>.vault.azure.net/secrets/<name>/<version>):
// a lower-case http(s) scheme, a host of letters, digits, '-' and '.', and
// a path of unreserved characters and '/'. Those need no unescaping and
// cannot fail to parse; ok is false for anything else, which url.Parse
// then decides.
func plainURLPath(id string) (path string, ok bool) {
	rest, ok := strings.CutPrefix(id, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(id, "http://"); !ok {
			return "", false
		}
	}
	slash := len(rest)
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.':
		case c == '/' && slash == len(rest):
			slash = i
		case slash < len(rest) && (c == '/' || c == '_' || c == '~'):
		default:
			return "", false
		}
	}
	return rest[slash:], true
}
