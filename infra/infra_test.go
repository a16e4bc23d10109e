package infra_test

// The drift test: infra/ is checked against the project's own files, read
// at test time, because the Bicep CLI cannot run here.
//
//   - every setting the binary needs in Azure (internal/config, by
//     reflection on its envconfig tags) is in the Function App's app settings,
//     and the binary starts with those settings;
//   - every connection named in functions/*/function.json has its
//     identity-based settings, and every %SETTING% they use is set;
//   - every role those connections and settings need is assigned to the app's
//     identity, and no broad role is;
//   - no key or connection string is in an app setting or a deployment output;
//   - Service Bus duplicate detection outlasts the retry policies;
//   - host.json, publish.mk and azure.yaml agree on what is published: the
//     staged package dist/app, never the repository root.
//
// A file that does not exist yet (function.json, host.json) skips its checks
// with the reason; everything else fails on drift.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/azdetect/azdetect/internal/config"
)

const (
	repoRoot       = ".."
	functionAppBic = "modules/functionapp.bicep"
	rolesBic       = "modules/roles.bicep"
)

// The functions the project defines (issue 6). Each is checked when its
// function.json exists; any other folder under functions/ is checked too.
var expectedFunctions = []string{"ingest-eventhub", "ingest-blob", "maintenance"}

// Settings the binary needs in Azure with the value it must have there
// (empty: any value). Fields of config.Settings without a default must be
// set too, unless listed in optionalInAzure.
var azureRequired = map[string]string{
	"AZDETECT_STATE":                "table",
	"AZDETECT_TABLE_ACCOUNT_URL":    "",
	"AZDETECT_ALERT_SINK":           "servicebus",
	"AZDETECT_SERVICEBUS_NAMESPACE": "",
	"AZDETECT_SERVICEBUS_ENTITY":    "",
	// Dead letters in the azdetect-deadletter container, not on the instance's disk.
	"AZDETECT_DEADLETTER_ACCOUNT_URL": "",
	"AZURE_CLIENT_ID":                 "", // azidentity picks the user-assigned identity from it
}

// Fields of config.Settings with no default that may stay unset in Azure.
var optionalInAzure = map[string]string{
	"AZDETECT_RULES_DIR":                    "extra rule files are optional; the embedded rules always load",
	"AZDETECT_DISABLED_RULES":               "no rule is disabled unless the operator says so",
	"AZDETECT_RULE_OVERRIDES":               "the rules' own thresholds and windows apply unless the operator tunes one",
	"AZDETECT_SERVICEBUS_CONNECTION_STRING": "Azure reaches Service Bus by AZDETECT_SERVICEBUS_NAMESPACE with the managed identity; the key form is for the emulator and local runs",
	"AZDETECT_SERVICEBUS_SUBSCRIPTION":      "read only by `azdetect alerts tail`, a consumer's command, never by the Function App",
	"AZDETECT_ARCHIVE_CONNECTION_STRING":    "Azure reaches the archive by AZDETECT_ARCHIVE_ACCOUNT_URL with the managed identity; the key form is for Azurite and local runs",
	"AZDETECT_TABLE_CONNECTION_STRING":      "Azure reaches Table Storage by AZDETECT_TABLE_ACCOUNT_URL with the managed identity; the key form is for Azurite and local runs",
	"AZDETECT_DEADLETTER_CONNECTION_STRING": "Azure reaches the dead-letter container by AZDETECT_DEADLETTER_ACCOUNT_URL with the managed identity; the key form is for Azurite and local runs",
}

// Settings the infrastructure sets before the code that reads them lands
// (later issues). Until the marker setting is a field of config.Settings,
// the start-up check runs without these values; once it is, they are strict.
var pending = []struct {
	name, marker, issue string
}{
	{"AZDETECT_STATE", "AZDETECT_STATE", "Table Storage state"},
	{"AZDETECT_TABLE_ACCOUNT_URL", "AZDETECT_STATE", "Table Storage state"},
	{"AZDETECT_ALERT_SINK", "AZDETECT_SERVICEBUS_NAMESPACE", "Service Bus alert sink"},
	{"AZDETECT_SERVICEBUS_NAMESPACE", "AZDETECT_SERVICEBUS_NAMESPACE", "Service Bus alert sink"},
	{"AZDETECT_SERVICEBUS_ENTITY", "AZDETECT_SERVICEBUS_NAMESPACE", "Service Bus alert sink"},
}

// Built-in role definitions (same GUID in every tenant).
const (
	roleBlobDataOwner         = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
	roleBlobDataContributor   = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
	roleQueueDataContributor  = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
	roleTableDataContributor  = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
	roleEventHubsDataReceiver = "a638d3c7-ab3a-418d-83e6-5f17a39d4fde"
	roleServiceBusDataSender  = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
	roleMonitoringMetricsPub  = "3913510d-42f4-4e42-8a64-420c390055eb"
	roleOwner                 = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	roleContributor           = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	roleUserAccessAdmin       = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
	roleStorageAccountContrib = "17d1049b-9a84-46fb-8f53-869881c3d3ab"
	roleEventHubsDataOwner    = "f526a384-b230-433a-b45c-95f59c4a2dec"
	roleServiceBusDataOwner   = "090c5cfd-751d-490a-894a-3ce6f1109419"
)

var roleNames = map[string]string{
	roleBlobDataOwner:         "Storage Blob Data Owner",
	roleBlobDataContributor:   "Storage Blob Data Contributor",
	roleQueueDataContributor:  "Storage Queue Data Contributor",
	roleTableDataContributor:  "Storage Table Data Contributor",
	roleEventHubsDataReceiver: "Azure Event Hubs Data Receiver",
	roleServiceBusDataSender:  "Azure Service Bus Data Sender",
	roleMonitoringMetricsPub:  "Monitoring Metrics Publisher",
	roleOwner:                 "Owner",
	roleContributor:           "Contributor",
	roleUserAccessAdmin:       "User Access Administrator",
	roleStorageAccountContrib: "Storage Account Contributor",
	roleEventHubsDataOwner:    "Azure Event Hubs Data Owner",
	roleServiceBusDataOwner:   "Azure Service Bus Data Owner",
}

// Roles too broad for the app's identity: each data-plane need has a
// narrower role.
var forbiddenRoles = []string{roleOwner, roleContributor, roleUserAccessAdmin, roleStorageAccountContrib, roleEventHubsDataOwner, roleServiceBusDataOwner}

// ---- loading ----------------------------------------------------------------

// appSetting is one app setting of the Function App.
type appSetting struct {
	name  string
	value string // Bicep expression
	group string // the var it is declared in ("" for name/value entries)
}

type infra struct {
	main        *bicepFile
	functionApp *bicepFile
	files       map[string]*bicepFile // by path relative to infra/
	settings    map[string]appSetting
}

func loadInfra(t *testing.T) *infra {
	t.Helper()
	in := &infra{files: map[string]*bicepFile{}}
	for _, dir := range []string{".", "modules", "feeds"} {
		for _, p := range bicepFiles(t, dir) {
			in.files[filepath.ToSlash(p)] = readBicep(t, p)
		}
	}
	var ok bool
	if in.main, ok = in.files["main.bicep"]; !ok {
		t.Fatal("infra/main.bicep is missing")
	}
	if in.functionApp, ok = in.files[functionAppBic]; !ok {
		t.Fatalf("infra/%s is missing", functionAppBic)
	}
	in.settings = appSettings(in.functionApp)
	if len(in.settings) == 0 {
		t.Fatalf("no app settings found in %s", functionAppBic)
	}
	return in
}

// appSettings collects the Function App's settings in both forms Bicep
// writes them: { name: 'X', value: ... } entries, and the keys of object
// literals held by vars named *Settings (merged with union()).
func appSettings(f *bicepFile) map[string]appSetting {
	out := map[string]appSetting{}
	for _, body := range objects(f.text) {
		m := propMap(body)
		if len(m) != 2 || m["name"] == "" || m["value"] == "" {
			continue
		}
		if name, ok := stringLiteral(m["name"]); ok {
			out[name] = appSetting{name: name, value: m["value"]}
		}
	}
	for _, d := range f.declsOf("var") {
		if !strings.HasSuffix(strings.ToLower(d.name), "settings") {
			continue
		}
		for _, body := range topObjects(d.value) {
			for _, p := range props(body) {
				out[p.key] = appSetting{name: p.key, value: p.value, group: d.name}
			}
		}
	}
	return out
}

// literal returns the literal value of a setting, if it has one.
func (s appSetting) literal() (string, bool) { return stringLiteral(s.value) }

// envValue renders a setting's value as the environment would hold it:
// literals as they are, param defaults where the module has them, and a
// plausible placeholder for values only known at deployment.
func (in *infra) envValue(s appSetting) string {
	if v, ok := s.literal(); ok {
		return v
	}
	resolve := func(expr string) string {
		if v, ok := in.functionApp.paramDefault(expr); ok {
			return v
		}
		return "x"
	}
	if v, ok := interpolate(s.value, resolve); ok {
		return v
	}
	if v, ok := in.functionApp.paramDefault(strings.TrimSpace(s.value)); ok {
		return v
	}
	lower := strings.ToLower(s.name)
	switch {
	case strings.HasSuffix(lower, "clientid") || strings.HasSuffix(lower, "client_id"):
		return "00000000-0000-0000-0000-000000000000"
	case strings.HasSuffix(lower, "uri") || strings.HasSuffix(lower, "url"):
		return "https://placeholder.core.windows.net/"
	case strings.Contains(lower, "namespace"):
		return "placeholder.servicebus.windows.net"
	}
	return "placeholder"
}

// configKey is one setting of config.Settings.
type configKey struct {
	key      string // as envconfig reads it
	alt      string // bare name envconfig falls back to (envconfig:"..." tag)
	def      string
	required bool
}

// configKeys lists config.Settings as envconfig reads it: envconfig's own
// reflection over the struct tags (split_words, envconfig, default,
// required), through its usage template.
func configKeys(t *testing.T) map[string]configKey {
	t.Helper()
	var buf bytes.Buffer
	var s config.Settings
	format := "{{range .}}{{usage_key .}}|{{.Alt}}|{{usage_default .}}|{{usage_required .}}\n{{end}}"
	if err := envconfig.Usagef(config.Prefix, &s, &buf, format); err != nil {
		t.Fatalf("envconfig usage of config.Settings: %v", err)
	}
	keys := map[string]configKey{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		parts := strings.SplitN(line, "|", 4)
		if len(parts) != 4 {
			continue
		}
		k := configKey{key: parts[0], alt: parts[1], def: parts[2], required: parts[3] == "true"}
		keys[k.key] = k
		if k.alt != "" {
			// envconfig falls back to the bare name (FUNCTIONS_CUSTOMHANDLER_PORT).
			keys[k.alt] = k
		}
	}
	if len(keys) == 0 {
		t.Fatal("config.Settings has no envconfig settings")
	}
	return keys
}

// functionJSON is one functions/<name>/function.json.
type functionJSON struct {
	name     string
	path     string
	Bindings []map[string]any `json:"bindings"`
	Retry    *retryPolicy     `json:"retry"`
}

type retryPolicy struct {
	Strategy        string `json:"strategy"`
	MaxRetryCount   int    `json:"maxRetryCount"`
	DelayInterval   string `json:"delayInterval"`
	MinimumInterval string `json:"minimumInterval"`
	MaximumInterval string `json:"maximumInterval"`
}

func readFunctionJSON(t *testing.T, name string) (*functionJSON, bool) {
	t.Helper()
	path := filepath.Join(repoRoot, "functions", name, "function.json")
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, false
	}
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	fj := &functionJSON{name: name, path: path}
	if err := json.Unmarshal(b, fj); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return fj, true
}

// functionNames lists the expected functions and every folder that has a
// function.json.
func functionNames(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	var names []string
	for _, n := range expectedFunctions {
		seen[n] = true
		names = append(names, n)
	}
	found, _ := filepath.Glob(filepath.Join(repoRoot, "functions", "*", "function.json"))
	for _, p := range found {
		n := filepath.Base(filepath.Dir(p))
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	return names
}

func readHostJSON(t *testing.T) (map[string]any, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "host.json"))
	if os.IsNotExist(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("parse host.json: %v", err)
	}
	return m, true
}

// ---- settings -----------------------------------------------------------------

func TestAppSettingsCoverConfig(t *testing.T) {
	in := loadInfra(t)
	keys := configKeys(t)

	for key, k := range keys {
		if key != k.key {
			continue // the alternative name of a field already checked
		}
		_, set := in.settings[key]
		if !set && k.alt != "" {
			_, set = in.settings[k.alt]
		}
		if set {
			continue
		}
		if k.required {
			t.Errorf("%s is required by config.Settings but not set in %s", key, functionAppBic)
			continue
		}
		if k.def == "" && k.alt == "" {
			if _, listed := optionalInAzure[key]; !listed {
				t.Errorf("%s has no default in config.Settings and is not set in %s: set it there, or list it in optionalInAzure with the reason it may stay unset", key, functionAppBic)
			}
		}
	}
	for name, want := range azureRequired {
		s, ok := in.settings[name]
		if !ok {
			t.Errorf("%s must be set in %s", name, functionAppBic)
			continue
		}
		if want == "" {
			continue
		}
		if got, ok := s.literal(); !ok || got != want {
			t.Errorf("%s = %s in %s, want '%s'", name, s.value, functionAppBic, want)
		}
	}
}

// TestAppSettingsKnown catches typos: every AZDETECT_ setting must be read
// by the binary, named by a function.json (connection or %SETTING%), or be
// one the infrastructure sets ahead of the code (pending).
func TestAppSettingsKnown(t *testing.T) {
	in := loadInfra(t)
	keys := configKeys(t)
	known := map[string]string{}
	for k := range keys {
		known[k] = "config.Settings"
	}
	for _, p := range pending {
		if _, ok := known[p.name]; !ok {
			known[p.name] = "pending: " + p.issue
		}
	}
	prefixes := map[string]string{}
	for conn, fn := range triggerConnections {
		prefixes[conn] = fn
	}
	for _, name := range functionNames(t) {
		fj, ok := readFunctionJSON(t, name)
		if !ok {
			continue
		}
		for _, b := range fj.Bindings {
			if c, _ := b["connection"].(string); c != "" {
				prefixes[c] = fj.path
			}
			for _, ref := range settingRefs(b) {
				known[ref] = fj.path
			}
		}
	}
	for _, ref := range triggerSettingRefs {
		if _, ok := known[ref]; !ok {
			known[ref] = "trigger binding (issue 6)"
		}
	}
	for name := range in.settings {
		if !strings.HasPrefix(name, config.Prefix+"_") {
			continue
		}
		if _, ok := known[name]; ok {
			continue
		}
		if i := strings.Index(name, "__"); i > 0 {
			if _, ok := prefixes[name[:i]]; ok {
				continue
			}
		}
		t.Errorf("app setting %s is read by nothing: not in config.Settings, not a connection or %%SETTING%% of a function.json, not pending (typo?)", name)
	}
	for _, p := range pending {
		if _, ok := keys[p.marker]; !ok {
			t.Logf("pending: %s is set ahead of the %s code (until %s is in config.Settings)", p.name, p.issue, p.marker)
		}
	}
}

// The trigger connections and %SETTING% names issue 6 fixes for the
// functions being written now; once a function.json exists it is checked
// against the settings directly.
var triggerConnections = map[string]string{
	"AZDETECT_EVENTHUB": "ingest-eventhub",
	"AZDETECT_ARCHIVE":  "ingest-blob",
}

var triggerSettingRefs = []string{"AZDETECT_EVENTHUB_NAME", "AZDETECT_EVENTHUB_CONSUMER_GROUP", "AZDETECT_ARCHIVE_CONTAINER"}

// TestBinaryStartsWithAppSettings runs config.Load with the environment the
// Function App gets, so a value the binary rejects fails here and not at
// start-up in Azure.
func TestBinaryStartsWithAppSettings(t *testing.T) {
	in := loadInfra(t)
	keys := configKeys(t)

	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, config.Prefix+"_") || name == "FUNCTIONS_CUSTOMHANDLER_PORT" {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	held := map[string]bool{}
	for _, p := range pending {
		if _, landed := keys[p.marker]; !landed {
			held[p.name] = true
		}
	}
	for name, s := range in.settings {
		if s.group != "" && strings.Contains(strings.ToLower(s.group), "premium") && !strings.HasPrefix(name, config.Prefix) {
			continue
		}
		if held[name] {
			t.Logf("not set for this check: %s (pending)", name)
			continue
		}
		t.Setenv(name, in.envValue(s))
	}
	if _, err := config.Load(); err != nil {
		t.Errorf("the binary would not start with the app settings of %s: %v", functionAppBic, err)
	}
}

// ---- connections ----------------------------------------------------------------

var settingRefRe = regexp.MustCompile(`%([A-Za-z0-9_]+)%`)

// settingRefs lists the %SETTING% names in a binding's string values.
func settingRefs(b map[string]any) []string {
	var out []string
	for _, v := range b {
		if s, ok := v.(string); ok {
			for _, m := range settingRefRe.FindAllStringSubmatch(s, -1) {
				out = append(out, m[1])
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestFunctionConnectionsAreIdentityBased(t *testing.T) {
	in := loadInfra(t)
	for _, name := range functionNames(t) {
		t.Run(name, func(t *testing.T) {
			fj, ok := readFunctionJSON(t, name)
			if !ok {
				t.Skipf("functions/%s/function.json does not exist yet", name)
			}
			if len(fj.Bindings) == 0 {
				t.Fatalf("%s has no bindings", fj.path)
			}
			for _, b := range fj.Bindings {
				typ, _ := b["type"].(string)
				for _, ref := range settingRefs(b) {
					if _, ok := in.settings[ref]; !ok {
						t.Errorf("%s binding %s uses %%%s%% but %s does not set %s", fj.path, typ, ref, functionAppBic, ref)
					}
				}
				conn, _ := b["connection"].(string)
				switch typ {
				case "timerTrigger", "httpTrigger", "http":
					continue
				case "eventHubTrigger", "eventHub":
					if conn == "" {
						t.Errorf("%s: %s has no connection; identity-based settings need one", fj.path, typ)
						continue
					}
					in.requireIdentity(t, fj.path, conn, []string{"fullyQualifiedNamespace"})
				case "blobTrigger", "blob":
					if conn == "" {
						conn = "AzureWebJobsStorage"
					}
					need := []string{"blobServiceUri|serviceUri|accountName"}
					if typ == "blobTrigger" {
						// Blob triggers keep work items and poison messages in queues.
						need = append(need, "queueServiceUri|accountName")
					}
					in.requireIdentity(t, fj.path, conn, need)
					if src, _ := b["source"].(string); strings.EqualFold(src, "EventGrid") {
						in.requireEventGridRoute(t, name, b)
					}
				default:
					if conn != "" {
						in.requireIdentity(t, fj.path, conn, nil)
					}
				}
			}
		})
	}
	t.Run("AzureWebJobsStorage", func(t *testing.T) {
		in.requireIdentity(t, "the Functions host", "AzureWebJobsStorage", []string{
			"blobServiceUri|accountName", "queueServiceUri|accountName", "tableServiceUri|accountName",
		})
	})
}

// requireIdentity checks <conn>__<each of need>, __credential=managedidentity
// and __clientId, and that <conn> itself (a connection string) is not set.
func (in *infra) requireIdentity(t *testing.T, who, conn string, need []string) {
	t.Helper()
	for _, alternatives := range need {
		found := false
		for _, suffix := range strings.Split(alternatives, "|") {
			if _, ok := in.settings[conn+"__"+suffix]; ok {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: connection %s needs %s__%s in %s", who, conn, conn, strings.ReplaceAll(alternatives, "|", " (or __"), functionAppBic)
		}
	}
	if s, ok := in.settings[conn+"__credential"]; !ok {
		t.Errorf("%s: connection %s needs %s__credential = 'managedidentity'", who, conn, conn)
	} else if v, _ := s.literal(); !strings.EqualFold(v, "managedidentity") {
		t.Errorf("%s: %s__credential = %s, want 'managedidentity'", who, conn, s.value)
	}
	if s, ok := in.settings[conn+"__clientId"]; !ok {
		t.Errorf("%s: connection %s needs %s__clientId (the user-assigned identity)", who, conn, conn)
	} else if !strings.Contains(s.value, "identityClientId") {
		t.Errorf("%s: %s__clientId = %s, want the user-assigned identity's client id (identityClientId)", who, conn, s.value)
	}
	if s, ok := in.settings[conn]; ok {
		t.Errorf("%s: %s is set (%s): a connection string; use the identity-based %s__* settings", who, conn, s.value, conn)
	}
}

// archiveEventsBic holds the Event Grid subscriptions to the blobs webhook.
const archiveEventsBic = "modules/archive-events.bicep"

// eventGridRoute is one subscription of archiveEventsBic: the function whose
// blobs webhook it calls and the container its subject filter names.
type eventGridRoute struct{ function, container string }

var routeRe = regexp.MustCompile(`\{\s*function:\s*'([^']+)'\s*container:\s*'([^']+)'\s*\}`)

// eventGridRoutes reads the fixed routes of archiveEventsBic, and the
// function that follows the %AZDETECT_ARCHIVE_CONTAINER% container (param
// functionName). It checks that each route becomes a BlobCreated
// subscription to Host.Functions.<function> filtered on its container.
func (in *infra) eventGridRoutes(t *testing.T) (fixed []eventGridRoute, custom string) {
	t.Helper()
	f, ok := in.files[archiveEventsBic]
	if !ok {
		t.Fatalf("%s is missing", archiveEventsBic)
	}
	for _, m := range routeRe.FindAllStringSubmatch(f.text, -1) {
		fixed = append(fixed, eventGridRoute{m[1], m[2]})
	}
	custom, _ = f.paramDefault("functionName")
	for _, want := range []string{
		"/runtime/webhooks/blobs?functionName=Host.Functions.${r.function}&code=",
		"subjectBeginsWith: '/blobServices/default/containers/${r.container}/'",
		"'Microsoft.Storage.BlobCreated'",
		"for r in routes: if (subscribe)",
		"code=${subscribe ? listKeys(",
		"concat(archiveRoutes, customRoute)",
	} {
		if !strings.Contains(f.text, want) {
			t.Errorf("%s: the subscriptions must contain %s (one BlobCreated subscription per route, filtered on its container)", archiveEventsBic, want)
		}
	}
	return fixed, custom
}

// blobPathContainer is the container part of a blob binding's path.
func blobPathContainer(b map[string]any) string {
	p, _ := b["path"].(string)
	c, _, _ := strings.Cut(p, "/")
	return c
}

// requireEventGridRoute checks that an Event Grid subscription points at
// this function's blobs webhook, filtered on the container of its path.
func (in *infra) requireEventGridRoute(t *testing.T, function string, binding map[string]any) {
	t.Helper()
	fixed, custom := in.eventGridRoutes(t)
	container := blobPathContainer(binding)
	if refs := settingRefRe.FindStringSubmatch(container); refs != nil {
		if custom != function {
			t.Errorf("%s: the %%%s%% container is routed to %q (param functionName), not to %s", archiveEventsBic, refs[1], custom, function)
		}
		return
	}
	if container == "$logs" {
		t.Errorf("%s: $logs raises no Event Grid events; the maintenance sweep lists it (AZDETECT_ARCHIVE_LIST_CONTAINERS)", function)
		return
	}
	for _, r := range fixed {
		if r.function == function {
			if r.container != container {
				t.Errorf("%s routes container %s to %s, whose path follows %s", archiveEventsBic, r.container, function, container)
			}
			return
		}
	}
	t.Errorf("no Event Grid subscription to /runtime/webhooks/blobs for %s (source EventGrid, container %s): add {function, container} to archiveRoutes in %s", function, container, archiveEventsBic)
}

// settingValues are the values a %SETTING% of a function.json takes in a
// deployment made with the defaults: the app setting's literal, or the
// Function App module's param, followed to main.bicep's param of the same
// name (its default and main.parameters.json's value, which must agree).
func (in *infra) settingValues(t *testing.T, name string) []string {
	t.Helper()
	s, ok := in.settings[name]
	if !ok {
		return nil
	}
	if v, ok := s.literal(); ok {
		return []string{v}
	}
	expr := strings.TrimSpace(s.value)
	if !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(expr) {
		return nil
	}
	if v, ok := in.functionApp.paramDefault(expr); ok {
		return []string{v}
	}
	if !regexp.MustCompile(`(?m)^\s*` + expr + `:\s*` + expr + `\s*$`).MatchString(in.main.text) {
		t.Errorf("main.bicep does not pass its param %s to the Function App module as %s (app setting %s)", expr, expr, name)
		return nil
	}
	var out []string
	def, okDef := in.main.paramDefault(expr)
	if okDef {
		out = append(out, def)
	}
	if v, ok := parameterFileValue(t, expr); ok {
		if okDef && v != def {
			t.Errorf("main.parameters.json sets %s = %q, main.bicep's default is %q: keep one default", expr, v, def)
		}
		out = append(out, v)
	}
	return out
}

// TestEventGridRoutesMatchFunctions: every route names a blob function of
// that container (no subscription to a missing function), and no two
// functions follow one container (each blob would be registered twice),
// with every %SETTING% in a path replaced by the value the deployment
// gives it by default.
func TestEventGridRoutesMatchFunctions(t *testing.T) {
	in := loadInfra(t)
	fixed, custom := in.eventGridRoutes(t)
	if len(fixed) == 0 {
		t.Fatalf("%s: no archiveRoutes found", archiveEventsBic)
	}
	byContainer := map[string]string{}
	var substituted [][2]string // function, container after substitution
	for _, name := range functionNames(t) {
		fj, ok := readFunctionJSON(t, name)
		if !ok {
			continue
		}
		for _, b := range fj.Bindings {
			if b["type"] != "blobTrigger" {
				continue
			}
			c := blobPathContainer(b)
			if other, dup := byContainer[c]; dup {
				t.Errorf("%s and %s both follow container %s", other, name, c)
			}
			byContainer[c] = name
			if m := settingRefRe.FindStringSubmatch(c); m != nil {
				values := in.settingValues(t, m[1])
				if len(values) == 0 {
					t.Errorf("%s: container %s: no default value found for %s", name, c, m[1])
				}
				for _, v := range values {
					substituted = append(substituted, [2]string{name, strings.ReplaceAll(c, m[0], v)})
				}
			}
		}
	}
	for _, sc := range substituted {
		if other, dup := byContainer[sc[1]]; dup && other != sc[0] {
			t.Errorf("%s follows container %s by default (its path's setting resolved), which %s already follows: every blob there would be evaluated twice; pick another default", sc[0], sc[1], other)
		}
	}
	if v, ok := in.files[archiveEventsBic].paramDefault("archiveContainer"); ok {
		if main, ok := in.main.paramDefault("archiveContainer"); ok && v != main {
			t.Errorf("%s param archiveContainer defaults to %q, main.bicep's to %q", archiveEventsBic, v, main)
		}
	}
	for _, r := range fixed {
		if got := byContainer[r.container]; got != r.function {
			t.Errorf("%s routes %s to %s, but the function following %s is %q", archiveEventsBic, r.container, r.function, r.container, got)
		}
		if !strings.HasPrefix(r.function, "archive-") {
			t.Errorf("route %s: archive container functions are named archive-*", r.function)
		}
	}
	if _, ok := readFunctionJSON(t, custom); !ok {
		t.Errorf("%s param functionName = %q: no such function", archiveEventsBic, custom)
	}
}

// ---- roles ----------------------------------------------------------------------

// roleAssignment is one Microsoft.Authorization/roleAssignments resource.
type roleAssignment struct {
	file, resource, role, principal string
}

func roleAssignments(f *bicepFile, path string) []roleAssignment {
	var out []roleAssignment
	for _, d := range f.declsOf("resource") {
		if !strings.Contains(d.header, "Microsoft.Authorization/roleAssignments@") {
			continue
		}
		for _, body := range topObjects(d.value) {
			top := propMap(body)
			propsBody := ""
			if p, ok := top["properties"]; ok {
				if objs := topObjects(p); len(objs) > 0 {
					propsBody = objs[0]
				}
			}
			pm := propMap(propsBody)
			out = append(out, roleAssignment{
				file:      path,
				resource:  d.name,
				role:      f.resolveGUID(pm["roleDefinitionId"]),
				principal: strings.TrimSpace(pm["principalId"]),
			})
			break
		}
	}
	return out
}

// appIdentityRoles lists the roles assigned to the Function App's identity:
// assignments in modules main.bicep hands identity.outputs.principalId to,
// whose principalId is that module parameter.
func (in *infra) appIdentityRoles(t *testing.T) map[string][]roleAssignment {
	t.Helper()
	out := map[string][]roleAssignment{}
	for _, d := range in.main.declsOf("module") {
		m := regexp.MustCompile(`module\s+\w+\s+'([^']+)'`).FindStringSubmatch(d.header)
		if m == nil {
			continue
		}
		var params string
		for _, body := range topObjects(d.value) {
			if p, ok := propMap(body)["params"]; ok {
				if objs := topObjects(p); len(objs) > 0 {
					params = objs[0]
				}
			}
			break
		}
		var principalParams []string
		for _, p := range props(params) {
			if strings.Contains(p.value, "identity.outputs.principalId") {
				principalParams = append(principalParams, p.key)
			}
		}
		if len(principalParams) == 0 {
			continue
		}
		mod, ok := in.files[filepath.ToSlash(filepath.Clean(m[1]))]
		if !ok {
			t.Fatalf("main.bicep module %s: file %s not found", d.name, m[1])
		}
		for _, ra := range roleAssignments(mod, m[1]) {
			for _, p := range principalParams {
				if ra.principal == p {
					out[ra.role] = append(out[ra.role], ra)
				}
			}
		}
	}
	return out
}

func TestRolesCoverConnections(t *testing.T) {
	in := loadInfra(t)
	need := map[string]string{
		roleBlobDataOwner:        "AzureWebJobsStorage (the host asks for Storage Blob Data Owner)",
		roleQueueDataContributor: "AzureWebJobsStorage queues (blob-trigger work items and poison queue)",
	}
	if _, ok := in.settings["AzureWebJobsStorage__tableServiceUri"]; ok {
		need[roleTableDataContributor] = "AzureWebJobsStorage__tableServiceUri"
	}
	if s, ok := in.settings["AZDETECT_STATE"]; ok {
		if v, _ := s.literal(); v == "table" {
			need[roleTableDataContributor] = "AZDETECT_STATE=table"
		}
	}
	if s, ok := in.settings["AZDETECT_ALERT_SINK"]; ok {
		if v, _ := s.literal(); v == "servicebus" {
			need[roleServiceBusDataSender] = "AZDETECT_ALERT_SINK=servicebus"
		}
	}
	if s, ok := in.settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]; ok && strings.Contains(s.value, "Authorization=AAD") {
		need[roleMonitoringMetricsPub] = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING (Entra ID telemetry)"
	}
	for name := range in.settings {
		if strings.HasSuffix(name, "__fullyQualifiedNamespace") && strings.HasPrefix(name, "AZDETECT_EVENTHUB") {
			need[roleEventHubsDataReceiver] = name
		}
	}
	for _, name := range functionNames(t) {
		fj, ok := readFunctionJSON(t, name)
		if !ok {
			continue
		}
		for _, b := range fj.Bindings {
			switch b["type"] {
			case "eventHubTrigger":
				need[roleEventHubsDataReceiver] = fj.path + " eventHubTrigger"
			case "blobTrigger":
				need[roleBlobDataOwner] = fj.path + " blobTrigger"
				need[roleQueueDataContributor] = fj.path + " blobTrigger (poison queue)"
			case "eventHub":
				t.Errorf("%s: eventHub output binding needs Azure Event Hubs Data Sender, which infra does not assign", fj.path)
			}
		}
	}

	got := in.appIdentityRoles(t)
	if len(got) == 0 {
		t.Fatal("no role assignment to the Function App's identity found (a module given identity.outputs.principalId with roleAssignments on that parameter)")
	}
	for role, why := range need {
		if len(got[role]) == 0 {
			t.Errorf("the app identity needs %s (%s) for %s, not assigned", roleNames[role], role, why)
		}
	}
	for _, role := range forbiddenRoles {
		for _, ra := range got[role] {
			t.Errorf("%s %s assigns %s to the app identity: too broad, use the data-plane role", ra.file, ra.resource, roleNames[role])
		}
	}
	for role, ras := range got {
		if role == "" {
			for _, ra := range ras {
				t.Errorf("%s %s: role definition is not a GUID constant", ra.file, ra.resource)
			}
		}
	}
}

// ---- secrets ---------------------------------------------------------------------

var secretExpr = regexp.MustCompile(`(?i)(list(Keys|ConnectionStrings|AccountSas|ServiceSas|Secrets)\s*\(|primaryKey|secondaryKey|AccountKey=|SharedAccessKey|DefaultEndpointsProtocol|ConnectionString|\.keys\b|@secure)`)
var secretName = regexp.MustCompile(`(?i)(key|connectionstring|connection_string|sas|secret|password|token)`)

func TestNoKeysInOutputs(t *testing.T) {
	in := loadInfra(t)
	n := 0
	for path, f := range in.files {
		for _, d := range f.declsOf("output") {
			n++
			if secretExpr.MatchString(d.value) {
				t.Errorf("%s output %s = %s: outputs must not carry keys or connection strings", path, d.name, d.value)
			}
			if secretName.MatchString(d.name) {
				t.Errorf("%s output %s: the name says it carries a secret", path, d.name)
			}
		}
	}
	if n == 0 {
		t.Fatal("no outputs found: the Bicep reader is broken")
	}
}

func TestNoKeysInAppSettings(t *testing.T) {
	in := loadInfra(t)
	for name, s := range in.settings {
		if strings.Contains(strings.ToUpper(name), "CONNECTIONSTRING") || strings.Contains(strings.ToUpper(name), "CONNECTION_STRING") {
			if name != "APPLICATIONINSIGHTS_CONNECTION_STRING" {
				t.Errorf("app setting %s: connection strings are not allowed (identity-based settings only)", name)
			}
			continue
		}
		if secretExpr.MatchString(s.value) {
			t.Errorf("app setting %s = %s: keys, SAS and connection strings are not allowed", name, s.value)
		}
	}
	// The Application Insights connection string carries only an
	// ingestion endpoint and id once local authentication is disabled.
	if _, ok := in.settings["APPLICATIONINSIGHTS_CONNECTION_STRING"]; ok {
		mon, ok := in.files["modules/monitoring.bicep"]
		if !ok || !regexp.MustCompile(`DisableLocalAuth:\s*true`).MatchString(mon.text) {
			t.Error("APPLICATIONINSIGHTS_CONNECTION_STRING is set but Application Insights local auth is not disabled (DisableLocalAuth: true)")
		}
		if s, ok := in.settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]; !ok || !strings.Contains(s.value, "Authorization=AAD") {
			t.Error("APPLICATIONINSIGHTS_AUTHENTICATION_STRING must select Entra ID authentication (ClientId=...;Authorization=AAD)")
		}
	}
}

func TestLocalAuthOff(t *testing.T) {
	in := loadInfra(t)
	checks := []struct{ file, re, why string }{
		{"modules/storage.bicep", `allowSharedKeyAccess:\s*false`, "storage account: no shared-key access"},
		{"modules/servicebus.bicep", `disableLocalAuth:\s*true`, "Service Bus: no SAS"},
	}
	for _, c := range checks {
		f, ok := in.files[c.file]
		if !ok {
			t.Errorf("%s is missing", c.file)
			continue
		}
		if !regexp.MustCompile(c.re).MatchString(f.text) {
			t.Errorf("%s: %s (want %s)", c.file, c.why, c.re)
		}
	}
}

// ---- hosting -------------------------------------------------------------------

func TestCustomHandlerOnBothPlans(t *testing.T) {
	in := loadInfra(t)
	s, ok := in.settings["FUNCTIONS_WORKER_RUNTIME"]
	if v, _ := s.literal(); !ok || v != "custom" {
		t.Errorf("FUNCTIONS_WORKER_RUNTIME must be 'custom' (Elastic Premium), got %q", s.value)
	}
	if ok && !strings.Contains(strings.ToLower(s.group), "premium") {
		t.Errorf("FUNCTIONS_WORKER_RUNTIME is in %q; Flex Consumption refuses it as an app setting: keep it in the premium-only settings", s.group)
	}
	var flexRuntime bool
	for _, body := range objects(in.functionApp.text) {
		m := propMap(body)
		if rt, ok := m["runtime"]; ok {
			for _, o := range topObjects(rt) {
				if v, _ := stringLiteral(propMap(o)["name"]); v == "custom" {
					flexRuntime = true
				}
			}
		}
	}
	if !flexRuntime {
		t.Error("functionAppConfig.runtime.name must be 'custom' (Flex Consumption)")
	}
	for _, want := range []string{"'FC1'", "'FlexConsumption'", "'ElasticPremium'", "functionAppConfig"} {
		if !strings.Contains(in.functionApp.text, want) {
			t.Errorf("%s: missing %s (both plans are one template)", functionAppBic, want)
		}
	}
	p, ok := in.main.decl("param", "hostingPlan")
	if !ok || !strings.Contains(p.header, "'flex'") || !strings.Contains(p.header, "'premium'") {
		// @allowed sits above the declaration; look there.
		if !regexp.MustCompile(`(?s)@allowed\(\[\s*'flex'\s*'premium'\s*\]\)\s*param hostingPlan`).MatchString(in.main.text) {
			t.Error("main.bicep: param hostingPlan must allow 'flex' and 'premium'")
		}
	}
}

func TestParametersFile(t *testing.T) {
	in := loadInfra(t)
	b, err := os.ReadFile("main.parameters.json")
	if err != nil {
		t.Fatalf("read main.parameters.json: %v", err)
	}
	var pf struct {
		Parameters map[string]json.RawMessage `json:"parameters"`
	}
	if err := json.Unmarshal(b, &pf); err != nil {
		t.Fatalf("parse main.parameters.json: %v", err)
	}
	for name := range pf.Parameters {
		if _, ok := in.main.decl("param", name); !ok {
			t.Errorf("main.parameters.json sets %s, which main.bicep does not declare", name)
		}
	}
	for _, d := range in.main.declsOf("param") {
		if d.value == "" {
			if _, ok := pf.Parameters[d.name]; !ok {
				t.Errorf("main.bicep param %s has no default and is not in main.parameters.json", d.name)
			}
		}
	}
}

// ---- duplicate detection -------------------------------------------------------

func TestDuplicateDetectionOutlastsRetries(t *testing.T) {
	in := loadInfra(t)
	sb, ok := in.files["modules/servicebus.bicep"]
	if !ok {
		t.Fatal("modules/servicebus.bicep is missing")
	}
	if !regexp.MustCompile(`requiresDuplicateDetection:\s*true`).MatchString(sb.text) {
		t.Fatal("the alerts topic must have requiresDuplicateDetection: true")
	}
	m := regexp.MustCompile(`duplicateDetectionHistoryTimeWindow:\s*(.+)`).FindStringSubmatch(sb.text)
	if m == nil {
		t.Fatal("the alerts topic sets no duplicateDetectionHistoryTimeWindow")
	}
	window := in.resolveWindow(t, sb, strings.TrimSpace(m[1]))
	d, err := parseISODuration(window)
	if err != nil {
		t.Fatalf("duplicate detection window %q: %v", window, err)
	}
	if d > 7*24*time.Hour {
		t.Errorf("duplicate detection window %s exceeds the Service Bus maximum of 7 days", window)
	}

	timeout := 30 * time.Minute // Flex Consumption and Premium default functionTimeout
	host, hostOK := readHostJSON(t)
	if hostOK {
		if s, ok := host["functionTimeout"].(string); ok && s != "-1" {
			if d, err := parseTimeSpan(s); err == nil {
				timeout = d
			}
		}
	}
	floor := time.Hour // a batch redelivered when partition ownership moves
	budget := floor
	why := "1h floor (redelivery on another instance)"
	var policies []struct {
		from string
		p    *retryPolicy
	}
	if hostOK {
		if r, ok := host["retry"]; ok {
			b, _ := json.Marshal(r)
			var p retryPolicy
			if json.Unmarshal(b, &p) == nil {
				policies = append(policies, struct {
					from string
					p    *retryPolicy
				}{"host.json", &p})
			}
		}
	}
	for _, name := range functionNames(t) {
		if fj, ok := readFunctionJSON(t, name); ok && fj.Retry != nil {
			policies = append(policies, struct {
				from string
				p    *retryPolicy
			}{fj.path, fj.Retry})
		}
	}
	for _, pol := range policies {
		b, err := retryBudget(pol.p, timeout)
		if err != nil {
			t.Errorf("%s retry policy: %v", pol.from, err)
			continue
		}
		if b > budget {
			budget, why = b, pol.from+" retry policy with functionTimeout "+timeout.String()
		}
	}
	if d <= budget {
		t.Errorf("duplicate detection window %s (%s) does not outlast %s (%s): a retried alert would be sent twice", window, d, budget, why)
	}
	if !hostOK {
		t.Log("host.json does not exist yet: functionTimeout taken as the 30-minute default")
	}
}

// resolveWindow follows the window expression to a literal: a param of the
// module, which main.bicep (and main.parameters.json) may set.
func (in *infra) resolveWindow(t *testing.T, sb *bicepFile, expr string) string {
	t.Helper()
	if v, ok := stringLiteral(expr); ok {
		return v
	}
	if _, ok := sb.decl("param", expr); !ok {
		t.Fatalf("duplicate detection window %s: not a literal nor a param", expr)
	}
	value, _ := sb.paramDefault(expr)
	// main.bicep passes the module param from one of its own params.
	for _, d := range in.main.declsOf("module") {
		if !strings.Contains(d.header, "servicebus.bicep") {
			continue
		}
		for _, body := range topObjects(d.value) {
			params := propMap(body)["params"]
			for _, o := range topObjects(params) {
				if v, ok := propMap(o)[expr]; ok {
					if lit, ok := stringLiteral(v); ok {
						value = lit
					} else if def, ok := in.main.paramDefault(v); ok {
						value = def
						if pv, ok := parameterFileValue(t, v); ok {
							value = pv
						}
					}
				}
			}
			break
		}
	}
	return value
}

func parameterFileValue(t *testing.T, name string) (string, bool) {
	b, err := os.ReadFile("main.parameters.json")
	if err != nil {
		return "", false
	}
	var pf struct {
		Parameters map[string]struct {
			Value any `json:"value"`
		} `json:"parameters"`
	}
	if json.Unmarshal(b, &pf) != nil {
		return "", false
	}
	p, ok := pf.Parameters[name]
	if !ok {
		return "", false
	}
	s, ok := p.Value.(string)
	return s, ok
}

// retryBudget is the longest a batch can keep coming back under a retry
// policy: every attempt running to the timeout, plus the delays between.
func retryBudget(p *retryPolicy, timeout time.Duration) (time.Duration, error) {
	if p.MaxRetryCount < 0 {
		return 0, fmt.Errorf("maxRetryCount %d retries forever: no duplicate detection window covers it", p.MaxRetryCount)
	}
	total := time.Duration(p.MaxRetryCount+1) * timeout
	switch strings.ToLower(p.Strategy) {
	case "fixeddelay":
		d, err := parseTimeSpan(p.DelayInterval)
		if err != nil {
			return 0, fmt.Errorf("delayInterval: %w", err)
		}
		total += time.Duration(p.MaxRetryCount) * d
	case "exponentialbackoff":
		minD, err := parseTimeSpan(p.MinimumInterval)
		if err != nil {
			return 0, fmt.Errorf("minimumInterval: %w", err)
		}
		maxD, err := parseTimeSpan(p.MaximumInterval)
		if err != nil {
			return 0, fmt.Errorf("maximumInterval: %w", err)
		}
		d := minD
		for i := 0; i < p.MaxRetryCount; i++ {
			total += min(d, maxD)
			d *= 2
		}
	default:
		return 0, fmt.Errorf("unknown strategy %q", p.Strategy)
	}
	return total, nil
}

// parseTimeSpan reads a .NET TimeSpan as host.json writes it: [d.]hh:mm:ss[.fff].
func parseTimeSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var days time.Duration
	if i := strings.Index(s, "."); i >= 0 && i < strings.Index(s, ":") {
		n, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, err
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, fmt.Errorf("timespan %q: want hh:mm:ss", s)
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, fmt.Errorf("timespan %q: not numbers", s)
	}
	return days + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec*float64(time.Second)), nil
}

var isoDurationRe = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// parseISODuration reads the ISO 8601 durations Service Bus takes (days and
// time parts).
func parseISODuration(s string) (time.Duration, error) {
	m := isoDurationRe.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" {
		return 0, fmt.Errorf("not an ISO 8601 duration of days/hours/minutes/seconds")
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
		if m[i+1] != "" {
			n, _ := strconv.Atoi(m[i+1])
			d += time.Duration(n) * unit
		}
	}
	if m[4] != "" {
		f, _ := strconv.ParseFloat(m[4], 64)
		d += time.Duration(f * float64(time.Second))
	}
	return d, nil
}

func TestDurationParsers(t *testing.T) {
	for in, want := range map[string]time.Duration{"P1D": 24 * time.Hour, "PT10M": 10 * time.Minute, "P1DT2H": 26 * time.Hour, "PT30S": 30 * time.Second} {
		if got, err := parseISODuration(in); err != nil || got != want {
			t.Errorf("parseISODuration(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for in, want := range map[string]time.Duration{"00:00:10": 10 * time.Second, "00:15:00": 15 * time.Minute, "1.02:00:00": 26 * time.Hour} {
		if got, err := parseTimeSpan(in); err != nil || got != want {
			t.Errorf("parseTimeSpan(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	got, err := retryBudget(&retryPolicy{Strategy: "exponentialBackoff", MaxRetryCount: 3, MinimumInterval: "00:00:04", MaximumInterval: "00:00:10"}, time.Minute)
	if want := 4*time.Minute + (4+8+10)*time.Second; err != nil || got != want {
		t.Errorf("retryBudget = %s, %v; want %s", got, err, want)
	}
}

// ---- publish ---------------------------------------------------------------------

// hostExecutable is host.json's customHandler.description.defaultExecutablePath.
func hostExecutable(t *testing.T) string {
	t.Helper()
	host, ok := readHostJSON(t)
	if !ok {
		t.Fatal("host.json is missing")
	}
	ch, _ := host["customHandler"].(map[string]any)
	desc, _ := ch["description"].(map[string]any)
	exe, _ := desc["defaultExecutablePath"].(string)
	if exe == "" || strings.ContainsAny(exe, "/\\") {
		t.Fatalf("host.json customHandler.description.defaultExecutablePath = %q: want a file name at the app root", exe)
	}
	return exe
}

// publishMk reads publish.mk and checks that what Azure receives is the
// staged package: `make package` builds the static linux/amd64 binary
// under host.json's name into $(APP_DIR) (dist/app), and every publish
// path (Core Tools on Flex, the Premium zip) runs from that folder, never
// from the repository root, whose functions/ layout the host cannot read.
func publishMk(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("publish.mk")
	if err != nil {
		t.Fatalf("read publish.mk: %v", err)
	}
	text := string(b)
	if m := regexp.MustCompile(`(?m)^PUBLISH_BIN\s*:?=\s*(.+)$`).FindStringSubmatch(text); m == nil ||
		!strings.Contains(m[1], "defaultExecutablePath") || !strings.Contains(m[1], "host.json") {
		t.Error("publish.mk: PUBLISH_BIN must be read from host.json's defaultExecutablePath, so that the two cannot differ")
	}
	if m := regexp.MustCompile(`(?m)^APP_DIR\s*\??=\s*(\S+)`).FindStringSubmatch(text); m == nil || m[1] != "dist/app" {
		t.Errorf("publish.mk: APP_DIR must default to dist/app (got %v)", m)
	}
	for _, want := range []string{
		"CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -o $(APP_DIR)/$(PUBLISH_BIN) ./handler",
		"cp host.json $(APP_DIR)/host.json",
		"functions/*/function.json",
		"cd $(APP_DIR) && $(FUNC) azure functionapp publish $(APP) --custom",
		"cd $(APP_DIR) && zip",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("publish.mk: missing %q", want)
		}
	}
	for _, target := range []string{"publish", "publish-premium"} {
		if !regexp.MustCompile(`(?m)^` + target + `:\s*package\b`).MatchString(text) {
			t.Errorf("publish.mk: %s must depend on package (publish the staged dist/app)", target)
		}
	}
	if strings.Contains(text, "zip -q -r $(PACKAGE_ZIP) $(PUBLISH_BIN) host.json functions") {
		t.Error("publish.mk: the Premium zip holds functions/ nested: the host would load zero functions")
	}
	return text
}

func TestHostJSONMatchesPublish(t *testing.T) {
	publishMk(t)
	host, ok := readHostJSON(t)
	if !ok {
		t.Skip("host.json does not exist yet")
	}
	hostExecutable(t)
	bundle, _ := host["extensionBundle"].(map[string]any)
	if id, _ := bundle["id"].(string); id != "Microsoft.Azure.Functions.ExtensionBundle" {
		t.Errorf("host.json extensionBundle.id = %q", id)
	}
	// Flex Consumption requires bundle [4.0.0, 5.0.0) or later.
	version, _ := bundle["version"].(string)
	m := regexp.MustCompile(`^\[\s*(\d+)`).FindStringSubmatch(version)
	if m == nil {
		t.Errorf("host.json extensionBundle.version = %q, want a range like [4.*, 5.0.0)", version)
	} else if n, _ := strconv.Atoi(m[1]); n < 4 {
		t.Errorf("host.json extensionBundle.version = %q: Flex Consumption needs 4 or later", version)
	}
}

// TestNothingPublishedFromTheRoot: the root is not a publishable app (the
// host reads only function folders beside host.json): its .funcignore
// leaves everything out, so a publish from the root by mistake uploads no
// sources or settings; dist/ (the staged package) is never committed.
func TestNothingPublishedFromTheRoot(t *testing.T) {
	fi, err := os.ReadFile(filepath.Join(repoRoot, ".funcignore"))
	if err != nil {
		t.Fatalf(".funcignore at the repository root: %v", err)
	}
	if !regexp.MustCompile(`(?m)^\*\s*$`).Match(fi) {
		t.Error(".funcignore at the repository root must leave everything out (a line \"*\"): publishing from the root deploys zero functions; publish dist/app (make publish)")
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, ".gitignore"))
	if err != nil || !regexp.MustCompile(`(?m)^/?dist/?$`).Match(b) {
		t.Errorf(".gitignore must ignore dist/ (the staged package): %v", err)
	}
}

// ---- feeds ------------------------------------------------------------------------

func TestFeedScopes(t *testing.T) {
	in := loadInfra(t)
	want := map[string]string{
		"feeds/activity-log.bicep":         "subscription",
		"feeds/entra-id.bicep":             "tenant",
		"feeds/flow-logs.bicep":            "",
		"feeds/keyvault-diagnostics.bicep": "",
		"feeds/storage-diagnostics.bicep":  "",
		"main.bicep":                       "subscription",
	}
	scopeRe := regexp.MustCompile(`(?m)^targetScope\s*=\s*'(\w+)'`)
	for path, scope := range want {
		f, ok := in.files[path]
		if !ok {
			t.Errorf("%s is missing", path)
			continue
		}
		got := ""
		if m := scopeRe.FindStringSubmatch(f.text); m != nil {
			got = m[1]
		}
		if got == "resourceGroup" {
			got = ""
		}
		if got != scope {
			t.Errorf("%s targetScope = %q, want %q", path, got, scope)
		}
	}
	activity := in.files["feeds/activity-log.bicep"]
	if activity != nil {
		for _, c := range []string{"Administrative", "Security", "ServiceHealth", "Alert", "Recommendation", "Policy", "Autoscale", "ResourceHealth"} {
			if !strings.Contains(activity.text, "'"+c+"'") {
				t.Errorf("feeds/activity-log.bicep: Activity Log category %s is not exported", c)
			}
		}
	}
}
