# azdetect: stage, publish and deploy to Azure. Included from the Makefile.
#
#   azd up                                     # the one deploy command (azure.yaml): everything below in order
#   make package                               # stage dist/app: what the Functions host loads
#   make deploy LOCATION=westeurope            # az deployment sub create (infra/main.bicep)
#   make publish APP=<functionAppName output>  # make package, then func azure functionapp publish from dist/app
#   make subscribe-archive LOCATION=westeurope # second deployment: Event Grid -> the blob functions
#   make publish-premium APP=... RG=... STORAGE=...  # hostingPlan=premium without Core Tools
#
# The host finds functions only in the immediate subfolders of the folder
# that holds host.json (reference/functions-contract.md §1), so what Azure
# receives is never the repository root: `make package` stages dist/app with
# host.json, the handler binary under the name host.json starts
# (customHandler.description.defaultExecutablePath, read from host.json
# here) and every function folder of functions/ beside them, nothing else.
# infra/infra_test.go checks this file, azure.yaml and host.json agree;
# handler/package_test.go stages the package and runs it as the host would.

GO          ?= go
FUNC        ?= func
AZ          ?= az
APP         ?=
RG          ?= rg-$(ENV_NAME)
LOCATION    ?=
STORAGE     ?=
# The azd environment name (AZURE_ENV_NAME): names the resource group
# (rg-<name>) and tags what azd finds. PRINCIPAL_ID gets the alert reader
# role when alertReaderPrincipalId is empty.
ENV_NAME     ?= $(or $(AZURE_ENV_NAME),azdetect)
PRINCIPAL_ID ?= $(AZURE_PRINCIPAL_ID)
PARAMS      ?= infra/main.parameters.json
APP_DIR     ?= dist/app
PUBLISH_BIN := $(shell sed -n 's/.*"defaultExecutablePath"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' host.json)
PACKAGE_ZIP ?= dist/azdetect-package.zip
RENDERED_PARAMS ?= dist/main.parameters.json

.PHONY: package publish publish-premium deploy subscribe-archive render-parameters

## package: stage dist/app (host.json, the static linux/amd64 binary host.json names, functions/* at the root)
package:
	@test -n "$(PUBLISH_BIN)" || { echo "package: host.json has no customHandler.description.defaultExecutablePath"; exit 2; }
	@case "$(PUBLISH_BIN)" in */*) echo "package: defaultExecutablePath $(PUBLISH_BIN) must be a file name at the app root"; exit 2;; esac
	@test -n "$(APP_DIR)" && test "$(APP_DIR)" != / || { echo "package: APP_DIR is empty or /"; exit 2; }
	rm -rf $(APP_DIR)
	mkdir -p $(APP_DIR)
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -o $(APP_DIR)/$(PUBLISH_BIN) ./handler
	cp host.json $(APP_DIR)/host.json
	@for f in functions/*/function.json; do \
	  d=$$(basename $$(dirname $$f)); mkdir -p $(APP_DIR)/$$d && cp $$f $(APP_DIR)/$$d/function.json || exit 1; \
	done
	@echo "package: $(APP_DIR) holds host.json, $(PUBLISH_BIN) and $$(ls -d $(APP_DIR)/*/ | wc -l) function folders"

## publish: stage, then publish dist/app with Core Tools (Flex Consumption; Premium: publish-premium)
publish: package
	@test -n "$(APP)" || { echo "publish: set APP=<function app name> (deployment output functionAppName)"; exit 2; }
	cd $(APP_DIR) && $(FUNC) azure functionapp publish $(APP) --custom

## render-parameters: main.parameters.json with the azd variables filled in, for `az deployment`
render-parameters:
	@mkdir -p $(dir $(RENDERED_PARAMS))
	@sed -e 's|$${AZURE_ENV_NAME}|$(ENV_NAME)|g' -e 's|$${AZURE_LOCATION}|$(LOCATION)|g' \
	  -e 's|$${AZURE_PRINCIPAL_ID}|$(PRINCIPAL_ID)|g' $(PARAMS) > $(RENDERED_PARAMS)

## deploy: the whole system and its subscription-scope feeds (infra/README.md)
deploy: render-parameters
	@test -n "$(LOCATION)" || { echo "deploy: set LOCATION=<region>"; exit 2; }
	$(AZ) deployment sub create --name $(ENV_NAME) --location $(LOCATION) \
	  --template-file infra/main.bicep --parameters @$(RENDERED_PARAMS)

## subscribe-archive: after the first publish, route archive blob events to the blob functions (one per container).
## Waits until the host has made the blobs extension's system key (it never prints it).
subscribe-archive: render-parameters
	@test -n "$(LOCATION)" || { echo "subscribe-archive: set LOCATION=<region>"; exit 2; }
	@if [ -n "$(APP)" ]; then \
	  for i in $$(seq 1 30); do \
	    $(AZ) functionapp keys list --name $(APP) --resource-group $(RG) --query systemKeys.blobs_extension -o tsv 2>/dev/null | grep -q . && exit 0; \
	    echo "subscribe-archive: waiting for the host to create the blobs_extension key ($$i/30)"; sleep 10; \
	  done; echo "subscribe-archive: no blobs_extension key after 5 minutes: did the host start with the blob functions? (infra/README.md, smoke test)"; exit 1; \
	fi
	$(AZ) deployment sub create --name $(ENV_NAME)-archive-events --location $(LOCATION) \
	  --template-file infra/main.bicep --parameters @$(RENDERED_PARAMS) --parameters subscribeArchiveEvents=true

## publish-premium: Elastic Premium runs the package from blob storage with the
## managed identity (WEBSITE_RUN_FROM_PACKAGE); zip dist/app, upload it with
## your Entra login (Storage Blob Data Contributor on the account) and restart.
publish-premium: package
	@test -n "$(APP)" -a -n "$(STORAGE)" || { echo "publish-premium: set APP=... STORAGE=... (deployment outputs)"; exit 2; }
	@mkdir -p $(dir $(PACKAGE_ZIP))
	rm -f $(PACKAGE_ZIP)
	cd $(APP_DIR) && zip -q -r $(abspath $(PACKAGE_ZIP)) .
	$(AZ) storage blob upload --auth-mode login --account-name $(STORAGE) \
	  --container-name app-package --name azdetect.zip --file $(PACKAGE_ZIP) --overwrite
	$(AZ) functionapp restart --name $(APP) --resource-group $(RG)
