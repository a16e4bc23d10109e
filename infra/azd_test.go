package infra_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// azureYAML is the part of azure.yaml azd reads for azdetect.
type azureYAML struct {
	Name  string `yaml:"name"`
	Infra struct {
		Provider string `yaml:"provider"`
		Path     string `yaml:"path"`
		Module   string `yaml:"module"`
	} `yaml:"infra"`
	Services map[string]struct {
		Project     string `yaml:"project"`
		Dist        string `yaml:"dist"`
		Language    string `yaml:"language"`
		Host        string `yaml:"host"`
		RemoteBuild *bool  `yaml:"remoteBuild"`
	} `yaml:"services"`
	Hooks map[string]struct {
		Posix struct {
			Shell string `yaml:"shell"`
			Run   string `yaml:"run"`
		} `yaml:"posix"`
	} `yaml:"hooks"`
}

// Environment values azd sets itself, beside the deployment's outputs.
var azdBuiltins = map[string]bool{
	"AZURE_ENV_NAME": true, "AZURE_LOCATION": true, "AZURE_SUBSCRIPTION_ID": true, "AZURE_PRINCIPAL_ID": true,
}

// TestAzureYAML is the drift test of `azd up`: azure.yaml deploys the staged
// package (publish.mk's APP_DIR, made by its prepackage hook) to the one
// Function App main.bicep tags with azd-service-name, the deployment binds
// the parameters azd fills and tags everything azd-env-name, and every
// value the hooks read is one azd sets or main.bicep outputs.
func TestAzureYAML(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "azure.yaml"))
	if err != nil {
		t.Fatalf("read azure.yaml: %v", err)
	}
	var az azureYAML
	if err := yaml.Unmarshal(b, &az); err != nil {
		t.Fatalf("parse azure.yaml: %v", err)
	}
	in := loadInfra(t)
	mk := publishMk(t)

	if az.Infra.Provider != "bicep" || az.Infra.Path != "infra" || az.Infra.Module != "main" {
		t.Errorf("azure.yaml infra = %+v, want bicep, infra, main (infra/main.bicep)", az.Infra)
	}
	if len(az.Services) != 1 {
		t.Fatalf("azure.yaml has %d services, want one Functions service", len(az.Services))
	}
	appDir := regexp.MustCompile(`(?m)^APP_DIR\s*\??=\s*(\S+)`).FindStringSubmatch(mk)
	for name, svc := range az.Services {
		if svc.Host != "function" {
			t.Errorf("service %s: host %q, want function", name, svc.Host)
		}
		if appDir == nil || filepath.Clean(filepath.Join(svc.Project, svc.Dist)) != filepath.Clean(appDir[1]) {
			t.Errorf("service %s deploys %s/%s, but make package stages %v: azd must deploy the staged package, never the repository root", name, svc.Project, svc.Dist, appDir)
		}
		if svc.RemoteBuild == nil || *svc.RemoteBuild {
			t.Errorf("service %s: remoteBuild must be false: the package holds a built binary", name)
		}
		if v, ok := in.main.decl("var", "azdServiceName"); !ok || strings.Trim(strings.TrimSpace(v.value), "'") != name {
			t.Errorf("main.bicep var azdServiceName = %v, want '%s' (the azure.yaml service the Function App is tagged for)", v.value, name)
		}
	}
	if !strings.Contains(in.main.text, "siteTags: {\n      'azd-service-name': azdServiceName") {
		t.Error("main.bicep must give the Function App (siteTags) the azd-service-name tag")
	}
	if !strings.Contains(in.functionApp.text, "tags: union(tags, siteTags,") {
		t.Errorf("%s: the site's tags must include siteTags", functionAppBic)
	}
	if !strings.Contains(in.main.text, "'azd-env-name': environmentName") {
		t.Error("main.bicep must tag every resource azd-env-name: environmentName")
	}
	// The package is made before azd zips it, and the archive events are
	// subscribed once the host runs the blob functions.
	if h := az.Hooks["prepackage"].Posix.Run; !regexp.MustCompile(`^make package\b`).MatchString(h) {
		t.Errorf("azure.yaml prepackage hook %q, want make package", h)
	}
	post := az.Hooks["postdeploy"].Posix.Run
	if !strings.HasPrefix(post, "make subscribe-archive") {
		t.Errorf("azure.yaml postdeploy hook %q, want make subscribe-archive", post)
	}
	for _, m := range regexp.MustCompile(`\$\{?([A-Z_]+)\}?`).FindAllStringSubmatch(post, -1) {
		if azdBuiltins[m[1]] {
			continue
		}
		if _, ok := in.main.decl("output", m[1]); !ok {
			t.Errorf("azure.yaml postdeploy reads $%s, which azd does not set and main.bicep does not output", m[1])
		}
	}
	for _, o := range []string{"AZURE_LOCATION", "AZURE_TENANT_ID", "AZURE_RESOURCE_GROUP"} {
		if _, ok := in.main.decl("output", o); !ok {
			t.Errorf("main.bicep has no output %s, which azd reads", o)
		}
	}

	// main.parameters.json binds what azd fills.
	pb, err := os.ReadFile("main.parameters.json")
	if err != nil {
		t.Fatal(err)
	}
	var pf struct {
		Parameters map[string]struct {
			Value any `json:"value"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(pb, &pf); err != nil {
		t.Fatal(err)
	}
	for param, want := range map[string]string{
		"environmentName": "${AZURE_ENV_NAME}",
		"location":        "${AZURE_LOCATION}",
		"principalId":     "${AZURE_PRINCIPAL_ID}",
	} {
		if got, _ := pf.Parameters[param].Value.(string); got != want {
			t.Errorf("main.parameters.json %s = %q, want %q", param, got, want)
		}
		if _, ok := in.main.decl("param", param); !ok {
			t.Errorf("main.bicep does not declare param %s", param)
		}
		// make deploy renders the same file for az deployment.
		if !strings.Contains(mk, "'s|$$"+want[1:]+"|") && !strings.Contains(mk, "s|$$"+want[1:]+"|") {
			t.Errorf("publish.mk render-parameters does not fill %s for `az deployment`", want)
		}
	}
}
